import type { ConnectedEventData, PresenceEventData, ResetEventData } from "@circl-bff/shared";
import { z } from "zod";
import type { ErrorBody } from "../http/error-response.js";

/**
 * Shapes the gateway answers with that had only a TypeScript type so far, as zod schemas for the
 * API documents. Each is checked against its type below: a change to one that is not made to
 * the other does not compile.
 */

export const errorBodySchema = z
  .object({
    statusCode: z.number().int().min(400).max(599),
    error: z.string().meta({ description: "The HTTP status text (`Bad Request`, `Unauthorized`, ...)." }),
    message: z.string(),
    requestId: z.string().meta({ description: "Also in the `x-request-id` response header; logged with the error." }),
    issues: z
      .array(
        z
          .object({
            code: z.string(),
            path: z.array(z.union([z.string(), z.number()])),
            message: z.string(),
          })
          .loose(),
      )
      .optional()
      .meta({ description: "The zod issues of a refused body (400 of `POST /events/publish`)." }),
  })
  .meta({ description: "Every error of the gateway's own routes: never a stack trace or an internal hostname." });

export const healthSchema = z.object({ status: z.literal("ok") });

export const readySchema = z.object({
  status: z.enum(["ready", "unavailable"]),
  bus: z.string().meta({ description: "`memory` (in-process bus) or `nats`." }),
  streams: z.number().int().meta({ description: "Open streams on this instance." }),
});

export const connectedDataSchema = z.object({
  clientId: z.string(),
  resumed: z.boolean().meta({ description: "`true` only when a requested position was served without `reset`." }),
});

export const resetDataSchema = z.object({
  reason: z.string(),
  lastEventId: z.string().meta({ description: "The position the client asked for." }),
});

export const presenceDataSchema = z.object({ topic: z.string(), userId: z.string() });

/** The headers a backend may set on a NATS message. */
export const busHeadersSchema = z.object({
  "Nats-Msg-Id": z
    .string()
    .optional()
    .meta({ description: "JetStream de-duplication id: a second message with the same id is dropped." }),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const checks: [
  Same<Omit<z.output<typeof errorBodySchema>, "issues">, Omit<ErrorBody, "issues">>,
  Same<z.output<typeof connectedDataSchema>, ConnectedEventData>,
  Same<z.output<typeof resetDataSchema>, ResetEventData>,
  Same<z.output<typeof presenceDataSchema>, PresenceEventData>,
] = [true, true, true, true];
void checks;
