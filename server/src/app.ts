import { randomUUID } from "node:crypto";
import cors from "@fastify/cors";
import Fastify, { type FastifyInstance } from "fastify";
import type { DestinationStream } from "pino";
import { createAccessTokenVerifier } from "./auth/access-token.js";
import { createAuthenticator } from "./auth/authenticator.js";
import { createStreamTokens } from "./auth/stream-token.js";
import { cacheVerifiedTokens } from "./auth/verified-token-cache.js";
import type { EventBus } from "./bus/event-bus.js";
import { MemoryBus } from "./bus/memory-bus.js";
import type { Config } from "./config.js";
import { registerDemoRoutes } from "./http/demo-routes.js";
import { registerErrorHandling } from "./http/error-handler.js";
import { registerOpsRoutes } from "./http/ops-routes.js";
import { registerStreamRoute } from "./http/stream-route.js";
import { registerTokenRoute } from "./http/token-route.js";
import { loggerOptions } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { ConnectionLimiter } from "./stream/connection-limiter.js";
import { createEventPublisher } from "./stream/event-publisher.js";
import { Hub } from "./stream/hub.js";
import { createAppRouter } from "./trpc/router.js";
import { registerTrpc } from "./trpc/trpc-plugin.js";

export type { AppRouter } from "./trpc/router.js";

export type AppDeps = {
  /** The event bus; an in-process bus when omitted. The app closes it on `close()`. */
  bus?: EventBus;
  /** Where logs go (tests capture them). */
  logStream?: DestinationStream;
  now?: () => number;
  /** Dev access token the demo page may use (development only). */
  devToken?: string;
};

export type App = FastifyInstance & { hub: Hub; bus: EventBus; metrics: Metrics };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the gateway from a parsed config; `main.ts` listens, tests call this directly. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const now = deps.now ?? Date.now;
  const app = Fastify({
    logger: loggerOptions(config.logLevel, deps.logStream),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: 1_048_576,
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
    forceCloseConnections: true,
  });

  const metrics = createMetrics();
  const bus = deps.bus ?? new MemoryBus({ historySize: config.replayBufferSize, now });
  const busKind = bus instanceof MemoryBus ? "memory" : "nats";
  const hub = new Hub(
    bus,
    {
      replayBufferSize: config.replayBufferSize,
      maxPendingBytes: config.sse.maxPendingBytes,
      maxConnectionMs: config.sse.maxConnectionMs,
      tickMs: Math.max(20, Math.min(1000, Math.floor(config.sse.heartbeatMs / 4))),
      lingerMs: 30_000,
      now,
      onError: (error) => app.log.error({ err: error }, "stream catch-up failed"),
    },
    metrics,
  );
  const streamTokens = createStreamTokens(config.streamToken);
  const authenticator = createAuthenticator(cacheVerifiedTokens(createAccessTokenVerifier(config.jwt)), streamTokens);
  const limiter = new ConnectionLimiter(config.sse.maxConnectionsPerUser);
  const publish = createEventPublisher(bus, metrics);

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  app.addHook("onResponse", async (request, reply) => {
    metrics.httpRequestDuration
      .labels(request.method, request.routeOptions.url ?? "not_found", String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
  });
  // Fastify closes only idle connections: end the streams so clients reconnect elsewhere.
  app.addHook("preClose", async () => {
    hub.close();
  });
  app.addHook("onClose", async () => {
    await bus.close();
  });

  registerErrorHandling(app, metrics);
  await app.register(cors, {
    origin: config.corsOrigins,
    credentials: true,
    methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    allowedHeaders: [
      "authorization",
      "content-type",
      "last-event-id",
      "x-request-id",
      "idempotency-key",
      "trpc-accept",
    ],
    exposedHeaders: ["x-request-id", "retry-after"],
    maxAge: 600,
  });

  registerOpsRoutes(app, { bus, busKind, hub, metrics, metricsToken: config.metricsToken });
  registerTokenRoute(app, { authenticator, streamTokens });
  registerStreamRoute(app, { hub, authenticator, limiter, heartbeatMs: config.sse.heartbeatMs, now });
  await registerTrpc(app, {
    router: createAppRouter({ heartbeatMs: config.sse.heartbeatMs, maxPendingBytes: config.sse.maxPendingBytes }),
    services: { hub, authenticator, streamTokens, publish },
    limiter,
  });
  registerDemoRoutes(app, { devToken: config.production ? undefined : deps.devToken });

  return Object.assign(app as FastifyInstance, { hub, bus, metrics });
}
