export type RecentLimits = {
  /** Items kept at most. */
  maxItems: number;
  /** Bytes (as the owner counts them) kept at most. */
  maxBytes: number;
};

/**
 * The items of one bus built last, by sequence: oldest first out, bounded by count and by
 * bytes. Streams that resume together (a reconnect storm after an instance went away) read the
 * same positions at about the same time; the first read of a position builds what it needs
 * (NatsBus: the decoded and validated event; the hub: its envelope and frame), the others take
 * the same object. A sequence names one event for the bus's lifetime (its epoch never changes,
 * see `EventBus.epoch`), so nothing here is ever stale.
 */
export class RecentBySeq<T extends { readonly seq: number }> {
  private readonly items = new Map<number, { item: T; bytes: number }>();
  private bytes = 0;

  constructor(private readonly limits: RecentLimits) {}

  get size(): number {
    return this.items.size;
  }

  get(seq: number): T | undefined {
    return this.items.get(seq)?.item;
  }

  add(item: T, bytes: number): void {
    if (bytes > this.limits.maxBytes || this.items.has(item.seq)) return;
    this.items.set(item.seq, { item, bytes });
    this.bytes += bytes;
    while (this.items.size > this.limits.maxItems || this.bytes > this.limits.maxBytes) {
      const [seq, oldest] = this.items.entries().next().value as [number, { bytes: number }];
      this.items.delete(seq);
      this.bytes -= oldest.bytes;
    }
  }

  clear(): void {
    this.items.clear();
    this.bytes = 0;
  }
}
