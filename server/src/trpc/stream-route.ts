import { randomUUID } from "node:crypto";
import { type StreamInput, streamInputSchema } from "@circl-bff/shared";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { clientGone, openSseResponse } from "../http/sse-response.js";
import { admitStream } from "../http/stream-auth.js";
import type { StreamRouteDeps } from "../http/stream-route.js";
import { openRequest } from "../stream/open-request.js";
import { TrpcSocketSink } from "../stream/trpc-socket-sink.js";
import { trpcConnectedFrame } from "../stream/trpc-wire.js";
import { bearerFromConnectionParams, streamOptions, trpcSseOptions } from "./stream-options.js";

/** tRPC's own SSE response headers (its `sseHeaders`). */
const TRPC_SSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache, no-transform",
  "X-Accel-Buffering": "no",
  Connection: "keep-alive",
} as const;

/** The query parameters of an `httpSubscriptionLink` request, as tRPC reads them. */
const LINK_QUERY = new Set(["input", "connectionParams", "lastEventId", "Last-Event-Id"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The `Last-Event-ID` of the request where tRPC looks for it: the header, then the query. */
function requestLastEventId(request: FastifyRequest, query: Record<string, unknown>): string | undefined {
  const header = request.headers["last-event-id"];
  const id = typeof header === "string" ? header : (query.lastEventId ?? query["Last-Event-Id"]);
  return typeof id === "string" ? id : undefined;
}

/**
 * The procedure's input as tRPC would pass it (the `input` query parameter as JSON, the
 * request's `Last-Event-ID` merged in), validated; `undefined` for a request this route leaves
 * to tRPC's handler, which answers it in its own format (a malformed or invalid input, a batch,
 * an unknown parameter).
 */
function linkInput(request: FastifyRequest): { input: StreamInput; lastEventId: string | undefined } | undefined {
  const query = request.query as Record<string, unknown>;
  for (const key in query) if (!LINK_QUERY.has(key) || typeof query[key] !== "string") return undefined;
  let raw: unknown;
  if (query.input !== undefined) {
    try {
      raw = JSON.parse(query.input as string);
    } catch {
      return undefined;
    }
  }
  const lastEventId = requestLastEventId(request, query);
  if (lastEventId) raw = isObject(raw) ? { ...raw, lastEventId } : (raw ?? { lastEventId });
  const parsed = streamInputSchema.safeParse(raw);
  return parsed.success ? { input: parsed.data, lastEventId } : undefined;
}

/**
 * `GET /trpc/events.stream` on a route of its own: what tRPC's handler does for the procedure
 * (same input, same checks, same frames byte for byte), written the way the raw route writes —
 * frames shared by every stream, one chunk per socket and event-loop turn — instead of a fetch
 * `Response` whose web-stream pipeline serialises every event again for every stream
 * (docs/bench.md). Everything this route does not serve itself, refusals included, goes to
 * tRPC's handler (`fallback`), so errors keep tRPC's shape.
 */
export function registerTrpcStreamRoute(
  scope: FastifyInstance,
  deps: StreamRouteDeps & { fallback: (request: FastifyRequest, reply: FastifyReply) => Promise<void> },
): void {
  const sinkOptions = { retryMs: 0, heartbeatMs: deps.heartbeatMs, now: deps.now };
  const connectedFrame = trpcConnectedFrame(trpcSseOptions(deps.heartbeatMs).client);
  scope.get(
    "/events.stream",
    { config: { auth: "stream" }, exposeHeadRoute: false },
    async (request: FastifyRequest, reply: FastifyReply) => {
      // Before anything else, as for every tRPC stream: 401 and 429 are HTTP statuses.
      const identity = admitStream(request, reply, deps.limiter);
      if (identity === undefined) return reply;
      const link = linkInput(request);
      if (link === undefined) {
        request.log.debug({ reason: "request" }, "events.stream answered by tRPC's handler");
        return deps.fallback(request, reply);
      }
      let options: Awaited<ReturnType<typeof streamOptions>>;
      try {
        options = await streamOptions(deps, identity, link.input, {
          authorization: request.headers.authorization ?? bearerFromConnectionParams(request),
          requestId: request.id,
        });
      } catch (error) {
        request.refusal = error instanceof Error ? error : new Error(String(error));
        request.log.debug({ reason: "refused" }, "events.stream answered by tRPC's handler");
        return deps.fallback(request, reply);
      }
      if (clientGone(reply)) return reply;
      const res = openSseResponse(reply, TRPC_SSE_HEADERS);
      const sink = new TrpcSocketSink(res, randomUUID(), sinkOptions, identity, connectedFrame, link.lastEventId);
      const session = deps.hub.open(openRequest(identity, options, sink));
      res.on("close", () => session.close());
      return reply;
    },
  );
}
