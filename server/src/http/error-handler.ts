import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AuthError, authErrorMessage, bearerChallenge } from "../auth/auth-error.js";
import { sendError } from "./error-response.js";
import type { RateLimits } from "./rate-limits.js";

type ErrorHandlingOptions = {
  /**
   * Production answers a failed credential with the generic message only; development adds the
   * reason. Defaults to `NODE_ENV=production`, which is what `config.production` is read from.
   */
  production?: boolean;
};

/**
 * One error shape for the whole app. Client errors keep their message; a 5xx says only
 * "Internal Server Error" (the full error is logged with the request id). A 401 carries its
 * `WWW-Authenticate` challenge (RFC 6750).
 */
export function registerErrorHandling(
  app: FastifyInstance,
  limits: RateLimits,
  options: ErrorHandlingOptions = {},
): void {
  const production = options.production ?? process.env.NODE_ENV === "production";
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // Counted and logged by the authentication hook.
    if (error instanceof AuthError) {
      // The key set could not be fetched and the token's key is not among the last good ones.
      if (error.reason === "jwks_unavailable") return sendError(reply.header("retry-after", "5"), 503, error.message);
      return sendError(
        reply.header("www-authenticate", bearerChallenge(error)),
        401,
        authErrorMessage(error, production),
      );
    }
    const statusCode =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (statusCode >= 500) {
      request.log.error({ err: error }, "request failed");
      return sendError(reply, statusCode, "Internal Server Error");
    }
    return sendError(reply, statusCode, error.message);
  });
  // Probing for routes costs the same budget as failing to authenticate: 404s are no free oracle.
  app.setNotFoundHandler(async (request, reply) => {
    if (await limits.hit("ip", request)) return limits.reject("ip", request, reply);
    return sendError(reply, 404, `Route ${request.method} ${request.url.split("?")[0]} not found`);
  });
}
