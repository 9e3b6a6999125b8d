import type { StreamInput } from "@circl-bff/shared";
import { TRPCError } from "@trpc/server";
import type { FastifyRequest } from "fastify";
import type { Identity } from "../auth/identity.js";
import {
  type TopicAuthRequest,
  TopicAuthUnavailableError,
  type TopicGrants,
  TopicNotAllowedError,
} from "../auth/topic-grants.js";
import { connectionParamsToken } from "../http/authentication.js";
import type { StreamOptions } from "../stream/open-request.js";

/**
 * tRPC's SSE settings for `events.stream`: its ping as the heartbeat, and clients told to
 * reconnect after three missed ones (the `connected` frame carries `client`).
 */
export function trpcSseOptions(heartbeatMs: number) {
  return {
    ping: { enabled: true, intervalMs: heartbeatMs },
    client: { reconnectAfterInactivityMs: heartbeatMs * 3 },
  };
}

/** A topic grant refused or undecidable, as the tRPC error a client sees. */
export function topicError(error: unknown): TRPCError | undefined {
  if (error instanceof TopicNotAllowedError) return new TRPCError({ code: "FORBIDDEN", message: error.message });
  if (error instanceof TopicAuthUnavailableError) {
    return new TRPCError({ code: "SERVICE_UNAVAILABLE", message: error.message, cause: error });
  }
  return undefined;
}

/**
 * `events.stream`'s validated input as the hub's stream options, once its topics are granted;
 * the refusal as a `TRPCError` otherwise. The one check both ways of serving the procedure run:
 * its own route (stream-route.ts) and tRPC's handler (router.ts).
 */
export async function streamOptions(
  deps: { grants: TopicGrants; maxTopicsPerStream: number },
  identity: Identity,
  input: StreamInput,
  request: TopicAuthRequest,
): Promise<StreamOptions> {
  const topics = [...new Set(input?.topics ?? [])];
  if (topics.length > deps.maxTopicsPerStream) {
    throw new TRPCError({ code: "BAD_REQUEST", message: `at most ${deps.maxTopicsPerStream} topics per stream` });
  }
  // Grants are checked on every (re)connect: a revoked pattern or hook answer ends here.
  try {
    await deps.grants.require(identity, topics, request);
  } catch (error) {
    throw topicError(error) ?? error;
  }
  return { lastEventId: input?.lastEventId, types: input?.types, topics, presence: input?.presence };
}

/** The stream token of tRPC's `connectionParams` as the `Authorization` value a topic hook is sent. */
export function bearerFromConnectionParams(request: FastifyRequest): string | undefined {
  const token = connectionParamsToken(request);
  return token === undefined ? undefined : `Bearer ${token}`;
}
