import type { FastifyReply, FastifyRequest } from "fastify";
import type { Authenticator } from "../auth/authenticator.js";
import type { Identity } from "../auth/identity.js";
import type { ConnectionLimiter } from "../stream/connection-limiter.js";
import { sendError } from "./error-handler.js";

/**
 * Runs before a stream (raw or tRPC) starts its response: authenticates, then takes one of the
 * user's stream slots for as long as the response is open. Answers 401/429 itself and returns
 * `undefined` when the stream must not start.
 */
export async function admitStream(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: { authenticator: Authenticator; limiter: ConnectionLimiter },
  urlToken: string | undefined,
): Promise<Identity | undefined> {
  const identity = await deps.authenticator.stream(request.headers.authorization, urlToken);
  const release = deps.limiter.acquire(identity.tenantId, identity.userId);
  if (release === undefined) {
    reply.header("retry-after", "5");
    sendError(reply, 429, "too many open streams for this user");
    return undefined;
  }
  // "close" fires once per response; `on` spares the per-stream wrapper `once` allocates.
  reply.raw.on("close", release);
  return identity;
}
