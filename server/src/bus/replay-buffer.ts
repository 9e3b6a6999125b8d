/**
 * A bounded ring of the most recent items of one key, in sequence order. It remembers the
 * highest sequence it has evicted, so a reader can tell whether it still holds everything after
 * a given position or must look elsewhere.
 */
export class ReplayBuffer<T extends { readonly seq: number }> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  /** Every item with `seq > completeAfter` that reached this buffer is still in it. */
  private completeFrom: number;
  /** The highest sequence evicted. */
  private evictedUpTo = 0;

  constructor(
    readonly capacity: number,
    /** The sequence before the first item this buffer saw (it knows nothing earlier). */
    coveredAfter = 0,
  ) {
    // Grown on demand: most keys (one per user) hold a few events, not `capacity`.
    this.items = [];
    this.completeFrom = coveredAfter;
  }

  get size(): number {
    return this.count;
  }

  /** The buffer can prove it holds every item after this sequence. */
  get completeAfter(): number {
    return this.completeFrom;
  }

  /** From now on the buffer knows it received every item after `seq` (its key's subscription is in effect). */
  coverAfter(seq: number): void {
    this.completeFrom = Math.max(seq, this.evictedUpTo);
  }

  push(item: T): void {
    if (this.count === this.capacity) {
      const evicted = this.items[this.start] as T;
      this.evictedUpTo = evicted.seq;
      this.completeFrom = Math.max(this.completeFrom, evicted.seq);
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
      return;
    }
    this.items[(this.start + this.count) % this.capacity] = item;
    this.count++;
  }

  /** Items with `after < seq <= upTo`, oldest first. */
  slice(after: number, upTo = Number.POSITIVE_INFINITY): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const item = this.items[(this.start + i) % this.capacity] as T;
      if (item.seq > upTo) break;
      if (item.seq > after) out.push(item);
    }
    return out;
  }
}

/** Merges lists that are each sorted by `seq` into one sorted list. */
export function mergeBySeq<T extends { readonly seq: number }>(lists: readonly T[][]): T[] {
  if (lists.length === 1) return lists[0] as T[];
  return lists.flat().sort((a, b) => a.seq - b.seq);
}
