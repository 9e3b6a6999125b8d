import { createHash } from "node:crypto";
import type { PublishInput, PublishResult, StreamKey } from "@circl-bff/shared";
import type { Identity } from "../auth/identity.js";
import {
  type TopicAuthRequest,
  TopicAuthUnavailableError,
  type TopicGrants,
  TopicNotAllowedError,
} from "../auth/topic-grants.js";
import { BusUnavailableError, type EventBus, EventTooLargeError } from "../bus/event-bus.js";
import { formatEventId } from "../bus/position.js";
import type { Metrics } from "../metrics.js";
import { busTracing } from "../telemetry/bus-tracing.js";

class ForbiddenError extends Error {
  readonly statusCode = 403;
}

/** Seconds a client should wait before publishing again when the bus cannot take the event. */
const BUS_RETRY_AFTER_S = 5;

/**
 * How a refused publish is answered, the same on both doors: an HTTP status and a tRPC code,
 * and `retryAfterS` (a `Retry-After` header) when waiting cures it.
 */
type PublishFailure = {
  status: 403 | 413 | 503;
  code: "FORBIDDEN" | "PAYLOAD_TOO_LARGE" | "SERVICE_UNAVAILABLE";
  message: string;
  retryAfterS?: number;
};

/** The answer for an error the publisher throws on purpose; undefined for anything else (a 500). */
export function publishFailure(error: unknown): PublishFailure | undefined {
  if (error instanceof ForbiddenError || error instanceof TopicNotAllowedError) {
    return { status: 403, code: "FORBIDDEN", message: error.message };
  }
  if (error instanceof TopicAuthUnavailableError) {
    return { status: 503, code: "SERVICE_UNAVAILABLE", message: error.message, retryAfterS: error.retryAfterS };
  }
  if (error instanceof EventTooLargeError) return { status: 413, code: "PAYLOAD_TOO_LARGE", message: error.message };
  if (error instanceof BusUnavailableError) {
    return { status: 503, code: "SERVICE_UNAVAILABLE", message: error.message, retryAfterS: BUS_RETRY_AFTER_S };
  }
  return undefined;
}

/**
 * `Nats-Msg-Id` style de-duplication key: the same user's same idempotency key maps to the same
 * id on every instance, and no other user's key can collide with it.
 */
function idempotencyMsgId(tenantId: string, userId: string, idempotencyKey: string): string {
  return createHash("sha256")
    .update(JSON.stringify([tenantId, userId, idempotencyKey]))
    .digest("base64url");
}

/**
 * Client publishing (`events.publish`): roles and grants, idempotency, correlation. `input` was
 * validated by the caller (its `data` against the catalog, once per publish).
 */
export function createEventPublisher(bus: EventBus, metrics: Metrics, grants: TopicGrants) {
  const targetKey = async (
    identity: Identity,
    to: PublishInput["to"],
    request: TopicAuthRequest,
  ): Promise<StreamKey> => {
    if (to === "me") return { tenant: identity.tenantId, user: identity.userId };
    if (to === "tenant") {
      if (!identity.roles.includes("admin"))
        throw new ForbiddenError("publishing to the tenant requires the admin role");
      return { tenant: identity.tenantId };
    }
    if (!identity.roles.includes("admin")) await grants.require(identity, [to.topic], request);
    return { tenant: identity.tenantId, topic: to.topic };
  };
  return async (
    identity: Identity,
    input: PublishInput,
    requestId: string,
    authorization?: string,
  ): Promise<PublishResult> => {
    const key = await targetKey(identity, input.to, { authorization, requestId });
    const msgId =
      input.idempotencyKey === undefined
        ? undefined
        : idempotencyMsgId(identity.tenantId, identity.userId, input.idempotencyKey);
    const event = { type: input.type, data: input.data ?? null, correlationId: input.correlationId ?? requestId };
    const options = msgId === undefined ? undefined : { msgId };
    // Tracing on: a publish span, which the bus carries to every delivering instance.
    const result = await (busTracing === undefined
      ? bus.publish(key, event, options)
      : busTracing.publish(key, bus.kind, () => bus.publish(key, event, options)));
    metrics.eventsPublished.labels(result.status).inc();
    if (result.status === "queued") return { requestId, status: "queued" };
    return { requestId, status: result.status, id: formatEventId(result.position.epoch, result.position.seq) };
  };
}

export type EventPublisher = ReturnType<typeof createEventPublisher>;
