import { allocChunk } from "./sse-frame.js";
import type { SharedFrame, StreamEvent, TrpcFrameKind } from "./stream-event.js";

/**
 * tRPC's SSE wire format, byte for byte what its `sseStreamProducer` writes (@trpc/server 11):
 * each field on its line (`event:`, `data:`, `id:`, in that order), then a blank line and one
 * more newline. `events.stream` is served with these frames by its own route
 * (trpc/stream-route.ts), so that a fan-out shares one frame per event across all tRPC streams
 * instead of one `JSON.stringify` and a web-stream pipeline per stream; trpc-wire.test.ts
 * checks them against tRPC's own producer.
 */

/** The first frame: tRPC's `connected` event with the client options (`sse.client`). */
export function trpcConnectedFrame(clientOptions: object): Buffer {
  return Buffer.from(`event: connected\ndata: ${JSON.stringify(clientOptions)}\n\n\n`);
}

/** tRPC's keep-alive event (its `sse.ping`): no data, never given to the subscriber. */
export const TRPC_PING_FRAME = Buffer.from("event: ping\ndata: \n\n\n");

/**
 * An untracked item yielded after an id was given (by the request or a tracked item): tRPC sends
 * it with an empty `id:` (the browser's last id is cleared) and then restores the id.
 */
export function trpcRestoreIdFrame(lastEventId: string): Buffer {
  return Buffer.from(`event: restore-id\ndata: \nid: ${lastEventId}\n\n\n`);
}

/**
 * The event's tRPC frame, as one HTTP/1.1 chunk with the frame a view into it (like the raw
 * frame's). The `data:` line is cut from the raw frame (`[id: ...\n]event: ...\ndata: <json>\n\n`):
 * the envelope is serialised once for both transports.
 */
export function trpcFrame(event: StreamEvent, kind: TrpcFrameKind): SharedFrame {
  const cached = event.trpc?.[kind];
  if (cached !== undefined) return cached;
  const raw = event.frame;
  const dataStart = raw.indexOf("\ndata: ") + 1;
  const dataLine = raw.subarray(dataStart, raw.length - 1);
  const tail = kind === "tracked" ? `id: ${event.envelope.id}\n\n\n` : kind === "untracked" ? "\n\n" : "id: \n\n\n";
  const size = dataLine.length + tail.length;
  const { chunk, start } = allocChunk(size);
  dataLine.copy(chunk, start);
  chunk.write(tail, start + dataLine.length, "latin1");
  const built = { frame: chunk.subarray(start, start + size), chunk };
  event.trpc ??= {};
  event.trpc[kind] = built;
  return built;
}
