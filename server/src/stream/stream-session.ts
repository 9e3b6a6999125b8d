import type { StreamKey } from "@circl-bff/shared";
import type { TokenOwner } from "../auth/identity.js";
import type { StreamEvent } from "./stream-event.js";
import type { EndReason, StreamSink } from "./stream-sink.js";

/** What a session reports to (the hub): one object for all sessions, no closures per session. */
export interface SessionHub {
  frameSent(session: StreamSession): void;
  /** A live event arrived after a later one was sent (a repaired loss): the client must be told. */
  outOfOrder(session: StreamSession, event: StreamEvent): void;
  slowConsumer(session: StreamSession): void;
  sessionClosed(session: StreamSession): void;
}

/**
 * One client's view of its keys. Live events that arrive while history is being replayed
 * are queued, then sent after it, skipping what history already covered: nothing is lost
 * between attach and backfill, nothing is sent twice.
 */
export class StreamSession {
  private catchingUp = true;
  private pending: StreamEvent[] = [];
  private pendingSize = 0;
  private lastSeq = -1;
  /** Live delivery starts after this position; everything up to it is history (or before the stream). */
  private liveFrom = Number.POSITIVE_INFINITY;
  private closed = false;
  /** Settles when history has been replayed and the session is live (or closed). */
  ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly hub: SessionHub,
    /** Whose stream it is (revocation ends streams by it). */
    readonly owner: TokenOwner,
    /** The user's personal key, the tenant broadcast key, then the topic keys it asked for. */
    readonly keys: readonly StreamKey[],
    readonly sink: StreamSink,
    private readonly types: ReadonlySet<string> | undefined,
    private readonly maxPendingBytes: number,
    /** Epoch ms after which the stream ends (maximum duration or credential expiry). */
    private readonly deadline: number,
    private readonly deadlineReason: EndReason,
    /** Receives `presence.join` / `presence.leave` of its topics. */
    readonly presence = false,
  ) {}

  /** The last position sent. */
  get position(): number {
    return this.lastSeq;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Live event from one of its keys (or an untracked presence event of one of its topics). */
  push(event: StreamEvent): void {
    if (this.closed) return;
    if (this.catchingUp) {
      this.pending.push(event);
      this.pendingSize += event.frame.length;
      if (this.pendingSize > this.maxPendingBytes) this.overflow();
      return;
    }
    this.send(event, true);
  }

  /**
   * History (or a reset) during catch-up. Returns a promise only when the client is not reading
   * and the caller must wait: an `await` per replayed event costs a promise turn each.
   */
  replay(event: StreamEvent): Promise<void> | undefined {
    this.send(event, false);
    if (!this.closed && this.sink.pendingBytes() > this.maxPendingBytes / 2) return this.sink.waitForRoom();
    return undefined;
  }

  /**
   * Ends catch-up: the client has every event up to `head` (history, or before the stream
   * began); then queued live events after it, then direct delivery.
   */
  goLive(head: number): void {
    this.liveFrom = head;
    this.lastSeq = Math.max(this.lastSeq, head);
    const queued = this.pending;
    this.pending = [];
    this.pendingSize = 0;
    for (const event of queued) {
      if (this.closed) return;
      this.send(event, true);
    }
    this.catchingUp = false;
  }

  /** Sends a gateway event now, whatever its position (a `reset` after a live loss). */
  interject(event: StreamEvent): void {
    if (this.closed) return;
    this.sink.deliver(event);
    if (this.sink.pendingBytes() > this.maxPendingBytes) this.overflow();
  }

  /** The hub's shared timer: deadline, then the sink's heartbeat. */
  tick(now: number): void {
    if (this.closed) return;
    if (now >= this.deadline) {
      this.end(this.deadlineReason);
      return;
    }
    this.sink.tick?.(now);
  }

  /** Server-side end (shutdown, slow consumer, max duration). */
  end(reason: EndReason): void {
    if (this.closed) return;
    this.sink.end(reason);
    this.close();
  }

  /** The client went away or the stream ended: detach from everything. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.hub.sessionClosed(this);
  }

  private send(event: StreamEvent, live: boolean): void {
    if (this.closed) return;
    if (event.untracked === true) {
      this.sink.deliver(event);
      if (this.sink.pendingBytes() > this.maxPendingBytes) this.overflow();
      return;
    }
    if (event.seq <= this.lastSeq) {
      // Live and after the history, yet behind what was sent: only a lost message repaired late.
      if (live && event.seq > this.liveFrom) this.hub.outOfOrder(this, event);
      return;
    }
    this.lastSeq = event.seq;
    if (this.types !== undefined && event.envelope.type !== "reset" && !this.types.has(event.envelope.type)) return;
    this.sink.deliver(event);
    this.hub.frameSent(this);
    if (this.sink.pendingBytes() > this.maxPendingBytes) this.overflow();
  }

  private overflow(): void {
    this.hub.slowConsumer(this);
    this.end("slow-consumer");
  }
}
