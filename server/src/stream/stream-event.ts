import type {
  ConnectedEventData,
  EventEnvelope,
  PresenceEventData,
  ResetEventData,
  StreamKey,
} from "@circl-bff/shared";
import type { BusEvent } from "../bus/event-bus.js";
import { formatEventId } from "../bus/position.js";
import { chunkedAnonymousFrame, chunkedEventFrame } from "./sse-frame.js";

/** A frame shared by every stream that sends it, with the same frame as one HTTP/1.1 chunk (`frame` a view into it). */
export type SharedFrame = { readonly frame: Buffer; readonly chunk: Buffer };

/** Which tRPC frame of an event: tracked (`id: <id>`), untracked, or untracked with `id: ` empty. */
export type TrpcFrameKind = "tracked" | "untracked" | "untracked-cleared";

/** One event as every stream needs it: built and serialised once, shared by all connections. */
export type StreamEvent = {
  readonly seq: number;
  readonly envelope: EventEnvelope;
  readonly frame: Buffer;
  /** `frame` as one HTTP/1.1 chunk (`frame` is a view into it). */
  readonly chunk: Buffer;
  /**
   * Not a stream position (`connected`, presence): no `id:` line, untracked on tRPC, never
   * replayed, never compared with positions. `seq` is -1.
   */
  readonly untracked?: true;
  /** Its frames in tRPC's wire format, built on first use by a tRPC stream (trpc-wire.ts). */
  trpc?: { [kind in TrpcFrameKind]?: SharedFrame };
};

export function toStreamEvent(epoch: string, event: BusEvent): StreamEvent {
  const envelope: EventEnvelope = {
    id: formatEventId(epoch, event.seq),
    type: event.type,
    data: event.data,
    tenantId: event.key.tenant,
    ...(event.key.user === undefined ? {} : { userId: event.key.user }),
    ...(event.key.topic === undefined ? {} : { topic: event.key.topic }),
    timestamp: event.timestamp,
    ...(event.correlationId === undefined ? {} : { correlationId: event.correlationId }),
  };
  return { seq: event.seq, envelope, ...chunkedEventFrame(envelope.id, envelope.type, JSON.stringify(envelope)) };
}

/** The `reset` envelope: its id is the head, so a reconnect right after it resumes cleanly. */
export function toResetEvent(
  epoch: string,
  head: number,
  key: StreamKey,
  reason: string,
  requestedId: string,
  now: number,
): StreamEvent {
  const data: ResetEventData = { reason, lastEventId: requestedId };
  const envelope: EventEnvelope = {
    id: formatEventId(epoch, head),
    type: "reset",
    data,
    tenantId: key.tenant,
    ...(key.user === undefined ? {} : { userId: key.user }),
    timestamp: new Date(now).toISOString(),
  };
  return { seq: head, envelope, ...chunkedEventFrame(envelope.id, envelope.type, JSON.stringify(envelope)) };
}

function untracked(envelope: EventEnvelope): StreamEvent {
  return { seq: -1, envelope, untracked: true, ...chunkedAnonymousFrame(envelope.type, JSON.stringify(envelope)) };
}

/** tRPC's first item: the stream is attached (the raw route writes its own `connected` frame). */
export function toConnectedEvent(tenantId: string, userId: string, data: ConnectedEventData, now: number): StreamEvent {
  return untracked({ id: "", type: "connected", data, tenantId, userId, timestamp: new Date(now).toISOString() });
}

/** A user's first stream on a topic opened (`join`), or their last one closed (`leave`). */
export function toPresenceEvent(
  tenantId: string,
  kind: "join" | "leave",
  data: PresenceEventData,
  now: number,
): StreamEvent {
  return untracked({
    id: "",
    type: `presence.${kind}`,
    data,
    tenantId,
    topic: data.topic,
    timestamp: new Date(now).toISOString(),
  });
}
