import type { FastifyInstance, FastifyRequest } from "fastify";
import { AuthError, toAuthError } from "../auth/auth-error.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { Metrics } from "../metrics.js";
import type { RateLimits } from "./rate-limits.js";
import type { AuthMode } from "./request-auth.js";

const TRPC_ROUTE = "/trpc/:path";
/** The token could not be verified now (the JWKS is unreachable): 503, retryable, never charged. */
const UNVERIFIABLE = "jwks_unavailable";
const TOKEN_ROUTE = "/events/token";

/** `routeOptions` is built afresh on every read (a 13-field object): read it once per request. */
function authMode(request: FastifyRequest, route: FastifyRequest["routeOptions"]): AuthMode {
  if (route.url === undefined) return "none"; // 404: the not-found handler counts it
  if (route.url === TRPC_ROUTE) {
    return (request.params as { path?: string }).path === "events.stream" ? "stream" : "access";
  }
  return route.config.auth ?? "access";
}

/** The stream token of tRPC's `connectionParams` (`?connectionParams={"token":...}`), if any. */
export function connectionParamsToken(request: FastifyRequest): string | undefined {
  const raw = (request.query as { connectionParams?: unknown } | undefined)?.connectionParams;
  if (typeof raw !== "string" || raw.length > 8192) return undefined;
  try {
    const token = (JSON.parse(raw) as { token?: unknown } | null)?.token;
    return typeof token === "string" ? token : undefined;
  } catch {
    return undefined;
  }
}

/** The token a stream endpoint may take outside the header: `?token=` or tRPC connectionParams. */
function urlToken(request: FastifyRequest): string | undefined {
  const token = (request.query as { token?: unknown } | undefined)?.token;
  return typeof token === "string" ? token : connectionParamsToken(request);
}

/**
 * One place for credentials: before any handler runs, verifies the request's token as its route
 * requires and applies the budgets. A client over its failure budget is refused before any token
 * work; a failure is counted, logged once (reason and IP, never the token) and left to the route
 * to answer in its own format (the contract's JSON error, or a tRPC error).
 */
export function registerAuthentication(
  app: FastifyInstance,
  deps: { authenticator: Authenticator; limits: RateLimits; metrics: Metrics },
): void {
  app.decorateRequest("identity", undefined);
  app.decorateRequest("authError", undefined);
  app.addHook("onRequest", async (request, reply) => {
    const route = request.routeOptions;
    const mode = authMode(request, route);
    if (mode === "none") return;
    const tokenRoute = route.url === TOKEN_ROUTE;
    if (await deps.limits.exceeded("ip", request)) return deps.limits.reject("ip", request, reply);
    if (tokenRoute && (await deps.limits.exceeded("token-ip", request))) {
      return deps.limits.reject("token-ip", request, reply);
    }
    try {
      const authorization = request.headers.authorization;
      request.identity =
        mode === "stream"
          ? await deps.authenticator.stream(authorization, urlToken(request))
          : await deps.authenticator.access(authorization);
    } catch (error) {
      const authError = error instanceof AuthError ? error : toAuthError(error);
      request.authError = authError;
      deps.metrics.authFailures.labels(authError.reason).inc();
      request.log.info({ reason: authError.reason, ip: request.ip }, "authentication failed");
      // The identity provider's outage is not the client's failure: it costs no budget.
      if (authError.reason === UNVERIFIABLE) return;
      await deps.limits.hit("ip", request);
      if (tokenRoute) await deps.limits.hit("token-ip", request);
      return;
    }
    const scope = mode === "stream" ? "stream" : "user";
    // A tRPC batch (`/trpc/a,b,c?batch=1`) is one request but several calls: each is counted.
    const calls = route.url === TRPC_ROUTE ? batchedCalls(request) : 1;
    for (let i = 0; i < calls; i++) {
      if (await deps.limits.hit(scope, request)) return deps.limits.reject(scope, request, reply);
    }
  });
}

/** How many procedures a tRPC request calls (a batch names them comma-separated in its path). */
function batchedCalls(request: FastifyRequest): number {
  const path = (request.params as { path?: string }).path ?? "";
  let calls = 1;
  for (let i = path.indexOf(","); i !== -1; i = path.indexOf(",", i + 1)) calls++;
  return calls;
}

/** The verified identity, or the authentication error to answer with. */
export function requireIdentity(request: FastifyRequest) {
  if (request.identity !== undefined) return request.identity;
  throw request.authError ?? new AuthError("missing");
}
