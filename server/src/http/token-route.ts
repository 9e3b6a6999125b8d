import type { FastifyInstance } from "fastify";
import type { StreamTokens } from "../auth/stream-token.js";
import { requireIdentity } from "./authentication.js";

/** `POST /events/token`: trades an access token (header) for a short-lived stream token. */
export function registerTokenRoute(app: FastifyInstance, deps: { streamTokens: StreamTokens }): void {
  app.post("/events/token", async (request) => deps.streamTokens.issue(requireIdentity(request)));
}
