/** Concurrent streams per user, raw and tRPC together. */
export class ConnectionLimiter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxPerUser: number) {}

  /** A release function, or `undefined` when the user is at the limit. */
  acquire(tenantId: string, userId: string): (() => void) | undefined {
    const key = JSON.stringify([tenantId, userId]);
    const count = this.counts.get(key) ?? 0;
    if (count >= this.maxPerUser) return undefined;
    this.counts.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    };
  }
}
