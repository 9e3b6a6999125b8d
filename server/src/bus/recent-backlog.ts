import type { BusEvent } from "./event-bus.js";

export type RecentBacklogLimits = {
  /** Events kept at most. */
  maxEvents: number;
  /** Message bytes (as stored in the stream) kept at most. */
  maxBytes: number;
};

/**
 * The events backlog reads decoded last, by stream sequence. Streams that resume together (a
 * reconnect storm after an instance went away) read the same positions at about the same time,
 * each with its own consumer; the first read of a position decodes and validates it, the others
 * take the same `BusEvent`, and with it the frame the hub built for it. A stored message never
 * changes under its sequence, so nothing is ever stale. Oldest first out, bounded by count and
 * by bytes.
 */
export class RecentBacklog {
  private readonly events = new Map<number, { event: BusEvent; bytes: number }>();
  private bytes = 0;

  constructor(private readonly limits: RecentBacklogLimits) {}

  get size(): number {
    return this.events.size;
  }

  get(seq: number): BusEvent | undefined {
    return this.events.get(seq)?.event;
  }

  add(event: BusEvent, bytes: number): void {
    if (bytes > this.limits.maxBytes || this.events.has(event.seq)) return;
    this.events.set(event.seq, { event, bytes });
    this.bytes += bytes;
    while (this.events.size > this.limits.maxEvents || this.bytes > this.limits.maxBytes) {
      const [seq, oldest] = this.events.entries().next().value as [number, { bytes: number }];
      this.events.delete(seq);
      this.bytes -= oldest.bytes;
    }
  }

  clear(): void {
    this.events.clear();
    this.bytes = 0;
  }
}
