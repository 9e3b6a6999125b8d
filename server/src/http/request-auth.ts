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
    /** `events.stream`'s own route refused the request; tRPC's handler answers it (trpc/stream-route.ts). */
    streamRefusal?: Error;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
}
