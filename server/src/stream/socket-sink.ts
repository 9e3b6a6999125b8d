import type { ServerResponse } from "node:http";
import { anonymousEventFrame, httpChunk, pingFrame, retryFrame } from "./sse-frame.js";
import type { StreamEvent } from "./stream-event.js";
import type { EndReason, StreamSink, Transport } from "./stream-sink.js";
import { type Flushable, flushSoon } from "./write-coalescer.js";

/** The same for every stream of a route: one object, not a copy per stream. */
export type SocketSinkOptions = { readonly retryMs: number; readonly heartbeatMs: number; readonly now: () => number };

/**
 * The raw `GET /events/stream` transport. Frames are collected during one event-loop turn and
 * written to the socket together (see `write-coalescer.ts`): the bytes and their order are the
 * same as one write per frame, with one system call instead of one per frame.
 *
 * The batch goes to the socket as one HTTP/1.1 chunk framed here, the bytes `res.write` would
 * produce: `res.write` costs a cork, a nextTick, a three-buffer writev and their garbage per
 * socket and turn, the bulk of the fan-out profile once frames are batched. The response head
 * is flushed first (the route does it); `res.end()` still writes the closing chunk, on the same
 * socket after ours.
 */
export class SocketSink implements StreamSink, Flushable {
  readonly transport: Transport = "raw";
  protected lastWriteAt: number;
  /** Sent once in `connected`, then dropped. */
  protected clientId: string | undefined;
  /** Frames waiting for the end of the turn: none, one, or several. */
  private batch: Buffer | Buffer[] | undefined;
  private batchBytes = 0;
  /** When the batch is exactly one event's frame: that event's shared chunk. */
  private batchChunk: Buffer | undefined;

  constructor(
    private readonly res: ServerResponse,
    clientId: string,
    protected readonly options: SocketSinkOptions,
  ) {
    this.clientId = clientId;
    this.lastWriteAt = options.now();
  }

  start(resumed: boolean): void {
    this.write(retryFrame(this.options.retryMs));
    this.write(anonymousEventFrame("connected", JSON.stringify({ clientId: this.clientId, resumed })));
    this.clientId = undefined;
  }

  deliver(event: StreamEvent): void {
    this.write(event.frame, event.chunk);
  }

  pendingBytes(): number {
    return (this.res.socket?.writableLength ?? 0) + this.res.writableLength + this.batchBytes;
  }

  waitForRoom(): Promise<void> {
    // History is replayed without leaving the turn: hand the batch over now so that the
    // socket's own backpressure decides.
    this.flush();
    const socket = this.res.socket;
    if (socket === null || !socket.writableNeedDrain || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
  }

  end(reason: EndReason): void {
    // A client that stopped reading would never take the final bytes: cut it off.
    if (reason === "slow-consumer") {
      this.batch = undefined;
      this.batchChunk = undefined;
      this.batchBytes = 0;
      this.res.destroy();
      return;
    }
    this.flush();
    this.res.end();
  }

  tick(now: number): void {
    if (now - this.lastWriteAt >= this.options.heartbeatMs) this.write(pingFrame(now));
  }

  flush(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    const chunk = this.batchChunk;
    this.batchChunk = undefined;
    const bytes = this.batchBytes;
    this.batchBytes = 0;
    const socket = this.res.socket;
    if (this.res.writableEnded || this.res.destroyed || socket === null) return;
    // An HTTP/1.0 client gets no chunked encoding: its body is the frames until the socket closes.
    if ((this.res as { chunkedEncoding?: boolean }).chunkedEncoding !== true) {
      socket.write(Array.isArray(batch) ? Buffer.concat(batch, bytes) : batch);
    } else socket.write(chunk ?? httpChunk(batch, bytes));
  }

  protected write(frame: Buffer, chunk?: Buffer): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    this.lastWriteAt = this.options.now();
    this.batchBytes += frame.length;
    const batch = this.batch;
    if (batch === undefined) {
      this.batch = frame;
      this.batchChunk = chunk;
      flushSoon(this);
      return;
    }
    this.batchChunk = undefined;
    if (Array.isArray(batch)) batch.push(frame);
    else this.batch = [batch, frame];
  }
}
