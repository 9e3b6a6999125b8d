import { randomUUID } from "node:crypto";
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import { eventTypeSchema } from "@circl-bff/shared";
import type { FastifyInstance } from "fastify";
import type { ConnectionLimiter } from "../stream/connection-limiter.js";
import type { Hub } from "../stream/hub.js";
import { SocketSink } from "../stream/socket-sink.js";
import { sendError } from "./error-handler.js";
import { admitStream } from "./stream-auth.js";

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
  connection: "keep-alive",
} as const;

/** Browsers wait this long before reconnecting a dropped `EventSource`. */
const RETRY_MS = 2000;

/**
 * Node keeps the response head it built (`_header`) for the response's lifetime as a rope of
 * ~45 concatenated strings, about 1.4 KB per open stream. Reading a character makes V8 flatten
 * it in place into one string of ~400 bytes. Nothing is changed.
 */
function flattenResponseHead(res: ServerResponse): void {
  const head = (res as ServerResponse & { _header?: unknown })._header;
  if (typeof head === "string") head.charCodeAt(0);
}

type StreamQuery = { token?: string; lastEventId?: string; types?: string };

/** `GET /events/stream`: the plain `EventSource` transport over the hub. */
export function registerStreamRoute(
  app: FastifyInstance,
  deps: { hub: Hub; limiter: ConnectionLimiter; heartbeatMs: number; now: () => number },
): void {
  app.get<{ Querystring: StreamQuery }>(
    "/events/stream",
    {
      config: { auth: "stream" },
      schema: {
        querystring: {
          type: "object",
          properties: {
            token: { type: "string", maxLength: 4096 },
            lastEventId: { type: "string", maxLength: 256 },
            types: { type: "string", maxLength: 4096 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const types = request.query.types?.split(",").filter((type) => type !== "");
      if (types !== undefined && !types.every((type) => eventTypeSchema.safeParse(type).success)) {
        return sendError(reply, 400, "types must be a comma-separated list of event types");
      }
      const identity = admitStream(request, reply, deps.limiter);
      if (identity === undefined) return reply;
      const lastEventId = request.headers["last-event-id"] ?? request.query.lastEventId;

      reply.hijack();
      const res = reply.raw;
      // Headers set by hooks (CORS, request id) live on the reply, not yet on the raw response.
      res.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...SSE_HEADERS });
      flattenResponseHead(res);
      // The sink writes its chunks to the socket itself (see socket-sink.ts): the head goes first.
      res.flushHeaders();
      res.socket?.setNoDelay(true);
      const sink = new SocketSink(res, {
        clientId: randomUUID(),
        retryMs: RETRY_MS,
        heartbeatMs: deps.heartbeatMs,
        now: deps.now,
      });
      const session = deps.hub.open({
        tenantId: identity.tenantId,
        userId: identity.userId,
        lastEventId: typeof lastEventId === "string" && lastEventId !== "" ? lastEventId : undefined,
        types,
        expiresAt: identity.exp * 1000,
        tokenIds: identity.tokenIds,
        issuedAt: identity.iat,
        sink,
      });
      res.on("close", () => session.close());
      return reply;
    },
  );
}
