import { type StreamEvent, toConnectedEvent } from "./stream-event.js";
import type { EndReason, StreamSink } from "./stream-sink.js";

/**
 * The tRPC transport: tRPC pulls envelopes from this queue as fast as the socket takes them,
 * so the bytes waiting here are the client's backlog.
 */
export class QueueSink implements StreamSink, AsyncIterable<StreamEvent> {
  readonly transport = "trpc";
  private items: StreamEvent[] = [];
  private head = 0;
  private bytes = 0;
  private ended: EndReason | undefined;
  private wake: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];

  constructor(
    private readonly roomBelowBytes: number,
    /** Whose stream it is, for the `connected` envelope. */
    private readonly owner?: { clientId: string; tenantId: string; userId: string; now: () => number },
  ) {}

  /** The first item: an untracked `connected` envelope (the client may publish from now on). */
  start(resumed: boolean): void {
    const owner = this.owner;
    if (owner === undefined) return;
    this.deliver(toConnectedEvent(owner.tenantId, owner.userId, { clientId: owner.clientId, resumed }, owner.now()));
  }

  deliver(event: StreamEvent): void {
    if (this.ended !== undefined) return;
    this.items.push(event);
    this.bytes += event.frame.length;
    this.signal();
  }

  pendingBytes(): number {
    return this.bytes;
  }

  waitForRoom(): Promise<void> {
    if (this.bytes < this.roomBelowBytes || this.ended !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  end(reason: EndReason): void {
    this.ended ??= reason;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.signal();
    this.releaseRoom();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    while (true) {
      if (this.head < this.items.length) {
        const item = this.items[this.head++] as StreamEvent;
        this.bytes -= item.frame.length;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        if (this.bytes < this.roomBelowBytes) this.releaseRoom();
        yield item;
        continue;
      }
      if (this.ended !== undefined) {
        // tRPC ends an aborted stream without its `return` event, so the client reconnects.
        throw new DOMException(`stream ended: ${this.ended}`, "AbortError");
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private releaseRoom(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
