import { z } from "zod";
import { LONE_SURROGATE, MAX_ID_LENGTH } from "./subject-encoding.js";

/** Event types the gateway emits itself; publishers may not use them. */
export const RESERVED_EVENT_TYPES = ["connected", "reset", "ping"] as const;

export const eventTypeSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, "may contain only letters, digits and _ . : -");

export const publishableEventTypeSchema = eventTypeSchema.refine(
  (type) => !(RESERVED_EVENT_TYPES as readonly string[]).includes(type),
  { message: `the types ${RESERVED_EVENT_TYPES.join(", ")} are reserved for the gateway` },
);

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

export const correlationIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:/=+-]+$/, "may contain only letters, digits and _ . : / = + -");

export const eventEnvelopeSchema = z.object({
  id: z.string(),
  type: eventTypeSchema,
  data: z.unknown(),
  tenantId: z.string(),
  userId: z.string().optional(),
  timestamp: z.string(),
  correlationId: z.string().optional(),
});

export type EventEnvelope<TData = unknown> = {
  id: string;
  type: string;
  data: TData;
  tenantId: string;
  userId?: string;
  timestamp: string;
  correlationId?: string;
};

export type ResetEventData = { reason: string; lastEventId: string };

export const publishInputSchema = z.object({
  type: publishableEventTypeSchema,
  data: z.unknown(),
  to: z.enum(["me", "tenant"]),
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
  })
  .optional();
export type StreamInput = z.infer<typeof streamInputSchema>;

export const streamTokenResultSchema = z.object({ token: z.string(), expiresIn: z.number() });
export type StreamTokenResult = z.infer<typeof streamTokenResultSchema>;

/** The body backends publish on NATS subjects (contract section 6). */
export const busMessageSchema = z.object({
  type: publishableEventTypeSchema,
  data: z.unknown(),
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
