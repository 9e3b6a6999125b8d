import { randomUUID } from "node:crypto";
import { eventTypeSchema, topicSchema } from "@circl-bff/shared";
import type { FastifyInstance } from "fastify";
import { TopicAuthUnavailableError, type TopicGrants, TopicNotAllowedError } from "../auth/topic-grants.js";
import type { ConnectionLimiter } from "../stream/connection-limiter.js";
import type { Hub } from "../stream/hub.js";
import { openRequest } from "../stream/open-request.js";
import { SocketSink } from "../stream/socket-sink.js";
import { requireIdentity } from "./authentication.js";
import { sendError } from "./error-response.js";
import { clientGone, openSseResponse } from "./sse-response.js";
import { admitStream } from "./stream-auth.js";

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
  connection: "keep-alive",
} as const;

/** Browsers wait this long before reconnecting a dropped `EventSource`. */
const RETRY_MS = 2000;

/** The raw route's query string, as Fastify validates it (the OpenAPI document reuses it). */
export const STREAM_QUERY_SCHEMA = {
  type: "object",
  properties: {
    token: { type: "string", maxLength: 4096 },
    lastEventId: { type: "string", maxLength: 256 },
    types: { type: "string", maxLength: 4096 },
    topics: { type: "string", maxLength: 16384 },
    presence: { type: "string", enum: ["1", "true", "0", "false"] },
  },
  additionalProperties: false,
} as const;

type StreamQuery = { token?: string; lastEventId?: string; types?: string; topics?: string; presence?: string };

/** What a stream route needs (the raw route and `events.stream`'s own route). */
export type StreamRouteDeps = {
  hub: Hub;
  limiter: ConnectionLimiter;
  grants: TopicGrants;
  maxTopicsPerStream: number;
  heartbeatMs: number;
  now: () => number;
};

/** `GET /events/stream`: the plain `EventSource` transport over the hub. */
export function registerStreamRoute(app: FastifyInstance, deps: StreamRouteDeps): void {
  const sinkOptions = { retryMs: RETRY_MS, heartbeatMs: deps.heartbeatMs, now: deps.now };
  app.get<{ Querystring: StreamQuery }>(
    "/events/stream",
    {
      config: { auth: "stream" },
      schema: { querystring: STREAM_QUERY_SCHEMA },
    },
    async (request, reply) => {
      const types = request.query.types?.split(",").filter((type) => type !== "");
      if (types !== undefined && !types.every((type) => eventTypeSchema.safeParse(type).success)) {
        return sendError(reply, 400, "types must be a comma-separated list of event types");
      }
      const topics = [...new Set(request.query.topics?.split(",").filter((topic) => topic !== "") ?? [])];
      const malformed = topics.find((topic) => !topicSchema.safeParse(topic).success);
      if (malformed !== undefined) {
        return sendError(
          reply,
          400,
          `topics must be a comma-separated list of topics ([A-Za-z0-9_.:-], 1-128 characters)`,
        );
      }
      if (topics.length > deps.maxTopicsPerStream) {
        return sendError(reply, 400, `at most ${deps.maxTopicsPerStream} topics per stream`);
      }
      // Grants are checked on every (re)connect, before the stream takes a slot.
      try {
        await deps.grants.require(requireIdentity(request), topics, {
          authorization:
            request.headers.authorization ??
            (request.query.token === undefined ? undefined : `Bearer ${request.query.token}`),
          requestId: request.id,
        });
      } catch (error) {
        if (error instanceof TopicNotAllowedError) return sendError(reply, 403, error.message);
        if (error instanceof TopicAuthUnavailableError) {
          reply.header("retry-after", String(error.retryAfterS));
          return sendError(reply, 503, error.message);
        }
        throw error;
      }
      // A client gone while its grants were asked for would never release the slot.
      if (clientGone(reply)) return reply;
      const identity = admitStream(request, reply, deps.limiter);
      if (identity === undefined) return reply;
      const lastEventId = request.headers["last-event-id"] ?? request.query.lastEventId;

      const res = openSseResponse(reply, SSE_HEADERS);
      const sink = new SocketSink(res, randomUUID(), sinkOptions);
      const session = deps.hub.open(
        openRequest(
          identity,
          {
            lastEventId: typeof lastEventId === "string" && lastEventId !== "" ? lastEventId : undefined,
            types,
            topics,
            presence: request.query.presence === "1" || request.query.presence === "true",
          },
          sink,
        ),
      );
      res.on("close", () => session.close());
      return reply;
    },
  );
}
