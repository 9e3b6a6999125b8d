import { eventCatalog, publishInputSchema, withCatalogCheck } from "@circl-bff/shared";
import cors from "@fastify/cors";
import underPressure from "@fastify/under-pressure";
import type { FastifyInstance } from "fastify";
import { registerApiDocRoutes } from "./http/api-doc-routes.js";
import { registerAuthentication } from "./http/authentication.js";
import { corsOptions } from "./http/cors-options.js";
import { registerDemoRoutes } from "./http/demo-routes.js";
import { registerErrorHandling } from "./http/error-handler.js";
import { errorBody } from "./http/error-response.js";
import { registerOpsRoutes } from "./http/ops-routes.js";
import { registerPublishRoute } from "./http/publish-route.js";
import { registerRateLimits } from "./http/rate-limits.js";
import { registerSecurityHeaders } from "./http/security-headers.js";
import { registerStreamRoute } from "./http/stream-route.js";
import { registerTokenRoute } from "./http/token-route.js";
import { durationObserver } from "./metrics.js";
import { registerRawProxy } from "./proxy/raw-proxy.js";
import type { Services } from "./services.js";
import { createAppRouter } from "./trpc/router.js";
import { registerTrpc } from "./trpc/trpc-plugin.js";

/** What an overloaded instance asks a client to wait before it tries again. */
const OVERLOAD_RETRY_AFTER_S = 5;

/**
 * The HTTP side, in order: request hooks, load shedding, security headers, CORS, rate limits,
 * the error shape and authentication, then every route (docs/protocol.md, "Endpoints").
 */
export async function registerRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const { config, metrics, bus, hub } = services;

  // Callback hooks, not async ones: no promise per request and hook.
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
  const observeDuration = durationObserver(metrics);
  app.addHook("onResponse", (request, reply, done) => {
    observeDuration(request.method, request.routeOptions.url ?? "not_found", reply.statusCode, reply.elapsedTime);
    done();
  });

  // Load shedding first: while the event loop lags, new requests are refused before any work;
  // open streams keep flowing.
  if (config.eventLoopMaxDelayMs > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: config.eventLoopMaxDelayMs,
      sampleInterval: Math.max(50, Math.min(1000, config.eventLoopMaxDelayMs)),
      exposeStatusRoute: false,
      pressureHandler: (request, reply) => {
        if (request.routeOptions.url === "/health") return; // liveness is not load
        reply
          .code(503)
          .header("retry-after", String(OVERLOAD_RETRY_AFTER_S))
          .send(errorBody(503, "server overloaded, retry later", request.id));
      },
    });
  }
  registerSecurityHeaders(app);
  await app.register(cors, corsOptions(config.corsOrigins));
  const limits = await registerRateLimits(app, config.rateLimit, metrics);
  registerErrorHandling(app, limits, { production: config.production });
  registerAuthentication(app, { authenticator: services.authenticator, limits, metrics });

  registerApiDocRoutes(app, { catalog: eventCatalog, strictCatalog: config.catalog.strict });
  registerOpsRoutes(app, {
    bus,
    busKind: bus.kind,
    hub,
    metrics,
    metricsToken: config.metricsToken,
    rateLimitStore: limits.storeStatus,
  });
  registerTokenRoute(app, { streamTokens: services.streamTokens });
  // `data` checked against the event catalog, once per publish, at both doors (the same schema).
  const publishInput = withCatalogCheck(publishInputSchema, eventCatalog, config.catalog.strict);
  registerPublishRoute(app, { publish: services.publish, inputSchema: publishInput });
  registerStreamRoute(app, {
    hub,
    limiter: services.limiter,
    grants: services.grants,
    maxTopicsPerStream: config.topics.maxPerStream,
    heartbeatMs: config.sse.heartbeatMs,
    now: services.now,
  });
  await registerTrpc(app, {
    router: createAppRouter({
      heartbeatMs: config.sse.heartbeatMs,
      maxPendingBytes: config.sse.maxPendingBytes,
      strictCatalog: config.catalog.strict,
      maxTopicsPerStream: config.topics.maxPerStream,
    }),
    services: {
      hub,
      streamTokens: services.streamTokens,
      publish: services.publish,
      grants: services.grants,
      presence: services.presence,
      revoke: (revocation) => services.revocation.broadcast.revoke(revocation),
      revocationTtlS: config.revocationTtlS,
      operations: services.operations,
      deadLetters: bus.deadLetters,
    },
    limiter: services.limiter,
    publishInput,
    stream: { maxTopicsPerStream: config.topics.maxPerStream, heartbeatMs: config.sse.heartbeatMs, now: services.now },
  });
  await registerRawProxy(app, {
    upstream: services.upstream,
    idempotency: services.idempotency,
    bodyLimitBytes: config.upstream.bodyLimitBytes,
    behindTrustedProxy: config.trustProxy !== false,
  });
  if (config.demoPage) registerDemoRoutes(app, { devToken: services.devToken });
}
