import { z } from "zod";
import { type EventDataOf, isReservedEventType, RESERVED_EVENT_TYPES } from "./catalog/define-events.js";
import type { CatalogEventType, EventCatalog } from "./events/index.js";
import { MAX_DATA_DEPTH, nestsDeeperThan } from "./json-depth.js";
import { LONE_SURROGATE, MAX_ID_LENGTH } from "./subject-encoding.js";

/** An event's `data`: any JSON, nested at most {@link MAX_DATA_DEPTH} levels. */
const eventDataSchema = z.unknown().refine((data) => !nestsDeeperThan(data, MAX_DATA_DEPTH), {
  message: `nested deeper than ${MAX_DATA_DEPTH} levels`,
});

export const eventTypeSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, "may contain only letters, digits and _ . : -");

export const publishableEventTypeSchema = eventTypeSchema.refine((type) => !isReservedEventType(type), {
  message: `the types ${RESERVED_EVENT_TYPES.join(", ")} are reserved for the gateway`,
});

/** A user or tenant id: 1–256 characters of well-formed Unicode (no lone surrogates). */
export const idSchema = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .refine((id) => !LONE_SURROGATE.test(id), { message: "must be well-formed Unicode" });

/** Event ids are opaque; bounded and free of characters that could break an SSE frame. */
export const eventIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\r\n\0]*$/, "must not contain line breaks or NUL");

const correlationIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:/=+-]+$/, "may contain only letters, digits and _ . : / = + -");

/** A topic: 1–128 characters of `[A-Za-z0-9_.:-]`, scoped to the caller's tenant (`order:42`, `doc.7`). */
export const topicSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, "a topic may contain only letters, digits and _ . : -");

/** The envelope's schema for one `type` and `data` schema: the single source of its shape. */
export function eventEnvelopeSchemaFor<TType extends z.ZodType<string>, TData extends z.ZodType>(
  type: TType,
  data: TData,
) {
  return z.object({
    /** Stream position, opaque; empty on envelopes that are not positions (`connected`, presence). */
    id: z.string(),
    type,
    data,
    tenantId: z.string(),
    /** Set on personal events only. */
    userId: z.string().optional(),
    /** Set on topic events only. */
    topic: z.string().optional(),
    /** ISO 8601. */
    timestamp: z.string(),
    correlationId: z.string().optional(),
  });
}

/** Any envelope, `data` untyped. */
export const eventEnvelopeSchema = eventEnvelopeSchemaFor(eventTypeSchema, z.unknown());

type EnvelopeFields = Omit<z.output<typeof eventEnvelopeSchema>, "type" | "data">;

/** An event as streams deliver it (docs/protocol.md, "Events"). */
export type EventEnvelope<TData = unknown, TType extends string = string> = EnvelopeFields & {
  type: TType;
  data: TData;
};

export type ResetEventData = { reason: string; lastEventId: string };
export type ConnectedEventData = { clientId: string; resumed: boolean };
export type PresenceEventData = { topic: string; userId: string };

/** The envelope of one catalog type (or of each, as a union), `data` typed by its schema. */
export type CatalogEnvelope<TType extends CatalogEventType = CatalogEventType> = {
  [K in TType]: EventEnvelope<EventDataOf<EventCatalog, K>, K>;
}[TType];

/** The envelopes the gateway makes itself. */
export type GatewayEnvelope =
  | EventEnvelope<ConnectedEventData, "connected">
  | EventEnvelope<ResetEventData, "reset">
  | EventEnvelope<PresenceEventData, "presence.join" | "presence.leave">;

/**
 * What `events.stream` yields: a catalog event, one of the gateway's own, or an event of a type
 * outside the catalog (`data` unknown). Narrow with {@link isEvent}.
 */
export type StreamEnvelope = CatalogEnvelope | GatewayEnvelope | EventEnvelope;

/** Narrows an envelope to one catalog (or gateway) type: `if (isEvent(e, "demo.message")) e.data.text`. */
export function isEvent<TType extends CatalogEventType | GatewayEnvelope["type"]>(
  envelope: { type: string },
  type: TType,
): envelope is TType extends CatalogEventType ? CatalogEnvelope<TType> : Extract<GatewayEnvelope, { type: TType }> {
  return envelope.type === type;
}

/** Where a client publishes: its own stream, its tenant (admin), or a topic of its tenant. */
export const publishTargetSchema = z.union([z.enum(["me", "tenant"]), z.strictObject({ topic: topicSchema })]);
export type PublishTarget = z.infer<typeof publishTargetSchema>;

export const publishInputSchema = z.object({
  type: publishableEventTypeSchema,
  data: eventDataSchema,
  to: publishTargetSchema,
  idempotencyKey: z.string().min(1).max(128).optional(),
  correlationId: correlationIdSchema.optional(),
});
export type PublishInput = z.infer<typeof publishInputSchema>;

export const publishResultSchema = z.object({
  requestId: z.string(),
  status: z.enum(["published", "duplicate", "queued"]),
  id: z.string().optional(),
});
export type PublishResult = z.infer<typeof publishResultSchema>;

export const streamInputSchema = z
  .object({
    lastEventId: eventIdSchema.optional(),
    types: z.array(eventTypeSchema).max(64).optional(),
    /** Topics to follow besides the personal and tenant events (each must be granted). */
    topics: z.array(topicSchema).max(1024).optional(),
    /** Also receive `presence.join` / `presence.leave` of those topics. */
    presence: z.boolean().optional(),
  })
  .optional();
export type StreamInput = z.infer<typeof streamInputSchema>;

export const streamTokenResultSchema = z.object({ token: z.string(), expiresIn: z.number() });
export type StreamTokenResult = z.infer<typeof streamTokenResultSchema>;

/** The body backends publish on NATS subjects (docs/protocol.md, "NATS subjects and backend messages"). */
export const busMessageSchema = z.object({
  type: publishableEventTypeSchema,
  data: eventDataSchema,
  correlationId: correlationIdSchema.optional(),
});
export type BusMessage = z.infer<typeof busMessageSchema>;

export const revokeInputSchema = z
  .object({
    /** Another user of the caller's tenant (admin only); the caller by default. */
    userId: z.string().min(1).max(256).optional(),
    /** One token id; without it, every token of the user issued until now. */
    jti: z.string().min(1).max(256).optional(),
  })
  .optional()
  .transform((input) => input ?? {});
export type RevokeInput = z.input<typeof revokeInputSchema>;

export const presenceListInputSchema = z.object({ topic: topicSchema });
export const presenceListResultSchema = z.object({
  topic: z.string(),
  users: z.array(z.object({ userId: z.string(), connections: z.number().int() })),
});
export type PresenceList = z.infer<typeof presenceListResultSchema>;
