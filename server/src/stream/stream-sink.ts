import type { StreamEvent } from "./stream-event.js";

export type Transport = "raw" | "trpc";
export type EndReason = "shutdown" | "slow-consumer" | "max-duration" | "token-expired" | "client-gone" | "revoked";

/** Where a stream session writes: the raw SSE socket or the tRPC subscription's queue. */
export interface StreamSink {
  readonly transport: Transport;
  /** The session is attached to the bus; `resumed` is true when the position is served without reset. */
  start(resumed: boolean): void;
  deliver(event: StreamEvent): void;
  /** Bytes handed over but not yet taken by the client. */
  pendingBytes(): number;
  /** Resolves when the client has taken enough to accept more (history replay waits on it). */
  waitForRoom(): Promise<void>;
  /** Ends the stream from the server side; the client reconnects and resumes. */
  end(reason: EndReason): void;
  /** Called by the hub's shared timer: heartbeats and maximum duration. */
  tick?(now: number): void;
}
