import type { FastifyBaseLogger } from "fastify";
import type { EventBus } from "../bus/event-bus.js";
import type { TokenOwner } from "./identity.js";
import { RevocationBroadcast } from "./revocation-broadcast.js";
import { RevocationList, revokes } from "./revocations.js";

/** How long one broadcast attempt may take, and the wait before the next while the bus cannot take it. */
const BROADCAST_ATTEMPT_TIMEOUT_MS = 2000;
const BROADCAST_RETRY_MS = 1000;

export type TokenRevocation = {
  /** The revocations in force here: what the authenticator refuses. */
  readonly list: RevocationList;
  /** Applies a revocation here and broadcasts it (`auth.revoke`); closed on shutdown. */
  readonly broadcast: RevocationBroadcast;
};

/**
 * Revocation, wired: a revocation applies on this instance at once and reaches every instance
 * over the bus (retried while it is down); each instance adds it to its list and ends the
 * revoked tokens' streams.
 */
export function createTokenRevocation(deps: {
  bus: EventBus;
  now: () => number;
  /** Ends this instance's streams whose owner matches; returns how many it ended. */
  endStreams: (match: (owner: TokenOwner) => boolean) => number;
  log: FastifyBaseLogger;
}): TokenRevocation {
  const list = new RevocationList(deps.now);
  const broadcast = new RevocationBroadcast(deps.bus, {
    attemptTimeoutMs: BROADCAST_ATTEMPT_TIMEOUT_MS,
    retryMs: BROADCAST_RETRY_MS,
    onError: (error) => deps.log.warn({ err: error }, "revocation not broadcast yet; retrying"),
    apply: (revocation) => {
      list.add(revocation);
      list.prune();
      const ended = deps.endStreams((owner) => revokes(revocation, owner));
      if (ended > 0)
        deps.log.info({ tenantId: revocation.tenantId, userId: revocation.userId, ended }, "tokens revoked");
    },
  });
  return { list, broadcast };
}
