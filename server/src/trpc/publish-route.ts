import type { PublishInput } from "@circl-bff/shared";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { EventPublisher } from "../stream/event-publisher.js";

/**
 * The call of a `POST /trpc/events.publish` request as tRPC reads it — the body is the input, or
 * with `?batch=1` (httpBatchLink's batch of one) `{"0": input}` — validated; `undefined` for a
 * request this route leaves to tRPC's handler (invalid input, another query, a streamed batch).
 */
function linkCall(
  request: FastifyRequest,
  schema: z.ZodType<PublishInput>,
): { input: PublishInput; batch: boolean } | undefined {
  const query = request.query as Record<string, unknown>;
  let batch = false;
  for (const key in query) {
    if (key !== "batch" || query.batch !== "1") return undefined;
    batch = true;
  }
  if (request.headers["trpc-accept"] !== undefined || typeof request.body !== "string") return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(request.body);
  } catch {
    return undefined;
  }
  if (batch) {
    if (typeof raw !== "object" || raw === null || Object.keys(raw).join() !== "0") return undefined;
    raw = (raw as { 0: unknown })[0];
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? { input: parsed.data, batch } : undefined;
}

/**
 * `POST /trpc/events.publish` on a route of its own: what tRPC's handler does for the mutation
 * (same input, same rules, the same JSON answer), without a fetch `Request` and `Response` per
 * call (docs/bench.md). A request it does not serve goes to tRPC's handler (`fallback`), as does
 * a publish that failed: the mutation then throws that failure (`request.refusal`), so errors
 * keep tRPC's shape and status, and nothing is published twice.
 *
 * Registered where `application/json` bodies stay strings, as in tRPC's plugin: a body tRPC's
 * handler reads is the one the client sent.
 */
export function registerTrpcPublishRoute(
  scope: FastifyInstance,
  deps: {
    publish: EventPublisher;
    inputSchema: z.ZodType<PublishInput>;
    fallback: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  },
): void {
  scope.post("/events.publish", async (request: FastifyRequest, reply: FastifyReply) => {
    const identity = request.identity;
    const call = identity === undefined ? undefined : linkCall(request, deps.inputSchema);
    if (identity === undefined || call === undefined) {
      request.log.debug({ reason: "request" }, "events.publish answered by tRPC's handler");
      return deps.fallback(request, reply);
    }
    let answer: string;
    try {
      const result = await deps.publish(identity, call.input, request.id, request.headers.authorization);
      answer = `{"result":{"data":${JSON.stringify(result)}}}`;
    } catch (error) {
      request.refusal = error instanceof Error ? error : new Error(String(error));
      request.log.debug({ reason: "refused" }, "events.publish answered by tRPC's handler");
      return deps.fallback(request, reply);
    }
    // A buffer: Fastify sends it with tRPC's exact content type (a string would gain a charset).
    reply.header("content-type", "application/json");
    return Buffer.from(call.batch ? `[${answer}]` : answer);
  });
}
