import type { FastifyReply, FastifyRequest } from "fastify";
import type { Identity } from "../auth/identity.js";
import type { ConnectionLimiter } from "../stream/connection-limiter.js";
import { requireIdentity } from "./authentication.js";
import { sendError } from "./error-response.js";

/**
 * Runs before a stream (raw or tRPC) starts its response: requires the identity the
 * authentication hook verified (throws its 401 otherwise), then takes one of the user's stream
 * slots for as long as the response is open. Answers 429 itself and returns `undefined` when
 * the user has no free slot.
 */
export function admitStream(
  request: FastifyRequest,
  reply: FastifyReply,
  limiter: ConnectionLimiter,
): Identity | undefined {
  const identity = requireIdentity(request);
  const release = limiter.acquire(identity.tenantId, identity.userId);
  if (release === undefined) {
    reply.header("retry-after", "5");
    sendError(reply, 429, "too many open streams for this user");
    return undefined;
  }
  // "close" fires once per response; `on` spares the per-stream wrapper `once` allocates.
  reply.raw.on("close", release);
  return identity;
}
