import { describeIssues, type PublishInput } from "@circl-bff/shared";
import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import { type EventPublisher, publishFailure } from "../stream/event-publisher.js";
import { requireIdentity } from "./authentication.js";
import { sendError } from "./error-response.js";

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * `POST /events/publish`: `events.publish` for clients without tRPC (the plain-`EventSource`
 * side of two-way communication, scripts, backends without NATS access). Same input (JSON
 * body, the shared zod schema), same rules (roles, idempotency, correlation), same result; the
 * idempotency key may also come as the `Idempotency-Key` header. It is also the light door: no
 * fetch `Request`/`Response` pair per call (tRPC's adapter), which the latency benchmark shows.
 */
export function registerPublishRoute(
  app: FastifyInstance,
  deps: { publish: EventPublisher; inputSchema: z.ZodType<PublishInput> },
): void {
  app.post(
    "/events/publish",
    {
      schema: {
        response: {
          200: {
            type: "object",
            properties: {
              requestId: { type: "string" },
              status: { type: "string" },
              id: { type: "string" },
            },
            required: ["requestId", "status"],
          },
        },
      },
    },
    async (request, reply) => {
      const identity = requireIdentity(request);
      if (!JSON_TYPE.test(request.headers["content-type"] ?? "")) {
        return sendError(reply, 415, "Content-Type must be application/json");
      }
      const header = request.headers["idempotency-key"];
      const body = request.body;
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        return sendError(reply, 400, "the body must be a JSON object {type, data, to}");
      }
      const fromBody = (body as { idempotencyKey?: unknown }).idempotencyKey;
      if (typeof header === "string" && fromBody !== undefined && fromBody !== header) {
        return sendError(reply, 400, "idempotencyKey and the Idempotency-Key header differ");
      }
      const parsed = deps.inputSchema.safeParse(
        typeof header === "string" && fromBody === undefined ? { ...body, idempotencyKey: header } : body,
      );
      if (!parsed.success) {
        return sendError(reply, 400, describeIssues(parsed.error.issues), { issues: parsed.error.issues });
      }
      try {
        return await deps.publish(identity, parsed.data, request.id, request.headers.authorization);
      } catch (error) {
        const failure = publishFailure(error);
        if (failure === undefined) throw error;
        if (failure.retryAfterS !== undefined) reply.header("retry-after", String(failure.retryAfterS));
        return sendError(reply, failure.status, failure.message);
      }
    },
  );
}
