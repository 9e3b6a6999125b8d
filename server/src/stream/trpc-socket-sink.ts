import type { ServerResponse } from "node:http";
import { SocketSink, type SocketSinkOptions } from "./socket-sink.js";
import { type StreamEvent, toConnectedEvent } from "./stream-event.js";
import { TRPC_PING_FRAME, trpcFrame, trpcRestoreIdFrame } from "./trpc-wire.js";

/**
 * `events.stream` on its own route (trpc/stream-route.ts): the raw route's socket writing —
 * one chunk per socket and event-loop turn, frames shared by every stream — in tRPC's wire
 * format. What tRPC's producer would send for the procedure's items: tracked envelopes with
 * their id, untracked ones (`connected`, presence) without, and its ping event as heartbeat.
 */
export class TrpcSocketSink extends SocketSink {
  override readonly transport = "trpc";
  /** The id the client holds (tRPC's producer keeps it the same way): an untracked item must not clear it for good. */
  private lastEventId: string | null;

  constructor(
    res: ServerResponse,
    clientId: string,
    options: SocketSinkOptions,
    private readonly owner: { readonly tenantId: string; readonly userId: string },
    /** tRPC's `connected` event (the same for every stream of the route), the first frame. */
    connectedFrame: Buffer,
    /** The `Last-Event-ID` the request carried (header or query), as tRPC reads it. */
    lastEventId: string | undefined,
  ) {
    super(res, clientId, options);
    this.write(connectedFrame);
    this.lastEventId =
      lastEventId === undefined || lastEventId === "" || /[\0\n\r]/.test(lastEventId) ? null : lastEventId;
  }

  /** The procedure's first item: an untracked `connected` envelope (tRPC's own `connected` went with the head). */
  override start(resumed: boolean): void {
    const data = { clientId: this.clientId as string, resumed };
    this.clientId = undefined;
    this.deliver(toConnectedEvent(this.owner.tenantId, this.owner.userId, data, this.options.now()));
  }

  override deliver(event: StreamEvent): void {
    if (event.untracked !== true) {
      this.lastEventId = event.envelope.id;
      const { frame, chunk } = trpcFrame(event, "tracked");
      this.write(frame, chunk);
    } else if (this.lastEventId === null) {
      const { frame, chunk } = trpcFrame(event, "untracked");
      this.write(frame, chunk);
    } else {
      this.write(trpcFrame(event, "untracked-cleared").frame);
      this.write(trpcRestoreIdFrame(this.lastEventId));
    }
  }

  override tick(now: number): void {
    if (now - this.lastWriteAt >= this.options.heartbeatMs) this.write(TRPC_PING_FRAME);
  }
}
