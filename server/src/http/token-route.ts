import type { FastifyInstance } from "fastify";
import type { Authenticator } from "../auth/authenticator.js";
import type { StreamTokens } from "../auth/stream-token.js";

/** `POST /events/token`: trades an access token (header) for a short-lived stream token. */
export function registerTokenRoute(
  app: FastifyInstance,
  deps: { authenticator: Authenticator; streamTokens: StreamTokens },
): void {
  app.post("/events/token", async (request) => {
    const identity = await deps.authenticator.access(request.headers.authorization);
    return deps.streamTokens.issue(identity);
  });
}
