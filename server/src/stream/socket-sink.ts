import type { ServerResponse } from "node:http";
import { anonymousEventFrame, pingFrame, retryFrame } from "./sse-frame.js";
import type { StreamEvent } from "./stream-event.js";
import type { EndReason, StreamSink } from "./stream-sink.js";

/** The raw `GET /events/stream` transport: frames written straight to the socket. */
export class SocketSink implements StreamSink {
  readonly transport = "raw";
  private lastWriteAt: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: { clientId: string; retryMs: number; heartbeatMs: number; now: () => number },
  ) {
    this.lastWriteAt = options.now();
  }

  start(resumed: boolean): void {
    this.write(retryFrame(this.options.retryMs));
    this.write(anonymousEventFrame("connected", JSON.stringify({ clientId: this.options.clientId, resumed })));
  }

  deliver(event: StreamEvent): void {
    this.write(event.frame);
  }

  pendingBytes(): number {
    return this.res.writableLength;
  }

  waitForRoom(): Promise<void> {
    const res = this.res;
    if (!res.writableNeedDrain || res.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        res.off("drain", done);
        res.off("close", done);
        resolve();
      };
      res.on("drain", done);
      res.on("close", done);
    });
  }

  end(reason: EndReason): void {
    // A client that stopped reading would never take the final bytes: cut it off.
    if (reason === "slow-consumer") this.res.destroy();
    else this.res.end();
  }

  tick(now: number): void {
    if (now - this.lastWriteAt >= this.options.heartbeatMs) this.write(pingFrame(now));
  }

  private write(frame: Buffer): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    this.lastWriteAt = this.options.now();
    this.res.write(frame);
  }
}
