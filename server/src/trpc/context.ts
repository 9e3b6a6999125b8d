import type { FastifyReply, FastifyRequest } from "fastify";
import type { Authenticator } from "../auth/authenticator.js";
import type { Identity } from "../auth/identity.js";
import type { StreamTokens } from "../auth/stream-token.js";
import type { DeadLetters } from "../bus/publish-queue.js";
import type { EventPublisher } from "../stream/event-publisher.js";
import type { Hub } from "../stream/hub.js";

/** What procedures may use; built once per app. */
export type TrpcServices = {
  hub: Hub;
  authenticator: Authenticator;
  streamTokens: StreamTokens;
  publish: EventPublisher;
  /** Present when the bus keeps failed publishes (NATS). */
  deadLetters?: DeadLetters;
};

export type TrpcContext = {
  req: FastifyRequest;
  res: FastifyReply;
  requestId: string;
  services: TrpcServices;
  /** Set by the stream gate for `events.stream`: verified before the response starts. */
  streamIdentity?: Identity;
};
