import type { AuthError } from "../auth/auth-error.js";
import type { Identity } from "../auth/identity.js";

/**
 * How a route authenticates: `access` (Bearer access token), `stream` (Bearer access or stream
 * token, or a stream token in the URL / tRPC connectionParams), or `none` (public).
 * Routes without `config.auth` are `access`: deny by default.
 */
export type AuthMode = "none" | "access" | "stream";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the authentication hook when the request carried valid credentials. */
    identity?: Identity;
    /** Set by the authentication hook when credentials were missing or invalid. */
    authError?: AuthError;
    /** A procedure's own route (trpc/stream-route.ts, trpc/publish-route.ts) refused the call; tRPC's handler answers it. */
    refusal?: Error;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
}
