import type { FastifyReply, FastifyRequest } from "fastify";
import type { Revocation } from "../auth/revocations.js";
import type { StreamTokens } from "../auth/stream-token.js";
import type { TopicGrants } from "../auth/topic-grants.js";
import type { DeadLetters } from "../bus/event-bus.js";
import type { PresenceTracker } from "../presence/presence-tracker.js";
import type { OperationCaller } from "../proxy/operation-caller.js";
import type { EventPublisher } from "../stream/event-publisher.js";
import type { Hub } from "../stream/hub.js";

/** What procedures may use; built once per app. */
export type TrpcServices = {
  hub: Hub;
  streamTokens: StreamTokens;
  publish: EventPublisher;
  /** Topic grants (token patterns, then `TOPIC_AUTH_URL`). */
  grants: TopicGrants;
  presence: PresenceTracker;
  /** Broadcasts a revocation to every instance. */
  revoke: (revocation: Revocation) => Promise<{ broadcast: boolean }>;
  revocationTtlS: number;
  /** Runs `proxy.*` operations against the upstream. */
  operations: OperationCaller;
  /** Present when the bus keeps failed publishes (NATS). */
  deadLetters?: DeadLetters;
};

export type TrpcContext = {
  req: FastifyRequest;
  res: FastifyReply;
  requestId: string;
  services: TrpcServices;
};
