import { busMessageSchema, checkEvent, type EventDefinitions, keyFromSubject, type StreamKey } from "@circl-bff/shared";
import type { BusEvent } from "./event-bus.js";

export type InvalidReason = "subject" | "size" | "json" | "schema" | "unknown-type";

/** The event catalog a backend's message is checked against (`strict`: refuse types outside it). */
export type MessageCatalog = { readonly events: EventDefinitions; readonly strict: boolean };

export type RawMessage = { subject: string; seq: number; data: Uint8Array; timestamp: string };

export type Decoded = { ok: true; event: BusEvent } | { ok: false; reason: InvalidReason };

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Turns a stored JetStream message into a bus event, or says why it cannot be one. Backends
 * publish straight to NATS, so nothing about a message can be trusted: the subject must be one
 * of ours, the body bounded, JSON, of the documented shape, and its `data` as the event catalog
 * says for its type.
 */
export function decodeMessage(
  message: RawMessage,
  maxBytes: number,
  knownKey?: StreamKey,
  catalog?: MessageCatalog,
): Decoded {
  // `knownKey`: the subject was already matched against one of ours (a backlog read).
  const key: StreamKey | undefined = knownKey ?? keyFromSubject(message.subject);
  if (key === undefined) return { ok: false, reason: "subject" };
  if (message.data.length > maxBytes) return { ok: false, reason: "size" };
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(message.data));
  } catch {
    return { ok: false, reason: "json" };
  }
  const parsed = busMessageSchema.safeParse(body);
  if (!parsed.success) return { ok: false, reason: "schema" };
  const { type, correlationId } = parsed.data;
  let data = parsed.data.data;
  if (catalog !== undefined) {
    const check = checkEvent(catalog.events, type, data, catalog.strict);
    if (!check.ok) return { ok: false, reason: check.reason };
    data = check.data;
  }
  return {
    ok: true,
    event: {
      seq: message.seq,
      key,
      type,
      data: data ?? null,
      ...(correlationId === undefined ? {} : { correlationId }),
      timestamp: message.timestamp,
    },
  };
}

export function encodeMessage(event: { type: string; data: unknown; correlationId?: string }): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      type: event.type,
      data: event.data ?? null,
      ...(event.correlationId === undefined ? {} : { correlationId: event.correlationId }),
    }),
  );
}
