import { randomUUID } from "node:crypto";
import { eventCatalog, publishInputSchema, withCatalogCheck } from "@circl-bff/shared";
import cors from "@fastify/cors";
import underPressure from "@fastify/under-pressure";
import Fastify, { type FastifyInstance } from "fastify";
import type { DestinationStream } from "pino";
import { createAccessTokenVerifier } from "./auth/access-token.js";
import { createAuthenticator } from "./auth/authenticator.js";
import { RevocationBroadcast } from "./auth/revocation-broadcast.js";
import { RevocationList, revokes } from "./auth/revocations.js";
import { createStreamTokens } from "./auth/stream-token.js";
import { TopicGrants } from "./auth/topic-grants.js";
import { cacheVerifiedTokens } from "./auth/verified-token-cache.js";
import type { EventBus } from "./bus/event-bus.js";
import { MemoryBus } from "./bus/memory-bus.js";
import type { NatsBus } from "./bus/nats-bus.js";
import type { Config } from "./config.js";
import { registerApiDocRoutes } from "./http/api-doc-routes.js";
import { registerAuthentication } from "./http/authentication.js";
import { registerDemoRoutes } from "./http/demo-routes.js";
import { registerErrorHandling } from "./http/error-handler.js";
import { errorBody, sendError } from "./http/error-response.js";
import { registerOpsRoutes } from "./http/ops-routes.js";
import { registerPublishRoute } from "./http/publish-route.js";
import { registerRateLimits } from "./http/rate-limits.js";
import { registerSecurityHeaders } from "./http/security-headers.js";
import { defaultMaxSockets } from "./http/socket-cap.js";
import { registerStreamRoute } from "./http/stream-route.js";
import { registerTokenRoute } from "./http/token-route.js";
import { loggerOptions } from "./logger.js";
import { createMetrics, durationObserver, type Metrics } from "./metrics.js";
import { PresenceTracker } from "./presence/presence-tracker.js";
import { IdempotencyStore } from "./proxy/idempotency-store.js";
import { createOperationCaller } from "./proxy/operation-caller.js";
import { createOperationEmitter } from "./proxy/operation-events.js";
import { registerRawProxy } from "./proxy/raw-proxy.js";
import type { UpstreamClient } from "./proxy/upstream-client.js";
import { ConnectionLimiter } from "./stream/connection-limiter.js";
import { createEventPublisher } from "./stream/event-publisher.js";
import { Hub, UnframableEventError } from "./stream/hub.js";
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
  /** The JetStream stream was deleted or replaced while running (NATS bus): the process should restart. */
  onStreamReplaced?: (reason: string) => void;
};

export type App = FastifyInstance & { hub: Hub; bus: EventBus; metrics: Metrics; presence: PresenceTracker };

/** How often an instance re-announces its presence entries, and when another's stale ones expire. */
const PRESENCE_REFRESH_MS = 5000;
const PRESENCE_EXPIRE_MS = 15_000;

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
    // Fastify's own refusals (undecodable URL, overlong parameter) in the contract's error shape.
    frameworkErrors: (error, _request, reply) =>
      sendError(
        reply,
        error.statusCode ?? 400,
        error.code === "FST_ERR_BAD_URL" ? "invalid path: malformed percent-encoding" : error.message,
      ),
    // On close: idle keep-alive connections go at once, requests in flight finish (a publish
    // answered, a proxied call returned); streams are ended by the hub in `preClose`.
    forceCloseConnections: "idle",
    trustProxy:
      typeof config.trustProxy === "number"
        ? (_address: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
  });

  const metrics = createMetrics();
  const maxSockets = config.maxSockets ?? defaultMaxSockets();
  if (maxSockets !== undefined) {
    app.server.maxConnections = maxSockets;
    app.server.on("drop", () => metrics.socketsDropped.inc());
  }
  const bus: EventBus =
    deps.bus ??
    (config.nats.urls === undefined
      ? new MemoryBus({ historySize: config.replayBufferSize, now })
      : await connectNats(config, metrics, app, deps.onStreamReplaced));
  const presence = new PresenceTracker(bus, {
    refreshMs: PRESENCE_REFRESH_MS,
    expireMs: PRESENCE_EXPIRE_MS,
    onError: (error) => app.log.warn({ err: error }, "presence message not sent"),
  });
  const hub = new Hub(
    bus,
    {
      replayBufferSize: config.replayBufferSize,
      maxPendingBytes: config.sse.maxPendingBytes,
      maxConnectionMs: config.sse.maxConnectionMs,
      tickMs: Math.max(20, Math.min(1000, Math.floor(config.sse.heartbeatMs / 4))),
      lingerMs: 30_000,
      now,
      onError: (error) =>
        error instanceof UnframableEventError
          ? app.log.error({ seq: error.seq, type: error.type, err: error.cause }, "event cannot be framed, skipped")
          : app.log.error({ err: error }, "stream catch-up failed"),
      topicStreams: presence,
    },
    metrics,
  );
  const stopPresence = presence.onChange((tenantId, topic, kind, userId) =>
    hub.presenceChanged(tenantId, topic, kind, userId),
  );
  const grants = new TopicGrants({
    url: config.topics.authUrl,
    cacheS: config.topics.authCacheS,
    timeoutMs: config.upstream.timeoutMs,
    now,
  });
  const streamTokens = createStreamTokens(config.streamToken);
  const revocations = new RevocationList(now);
  const verifyAccess = createAccessTokenVerifier(config.jwt);
  // One cache for calls and streams: the first call after a client connects, and a reconnect
  // storm, verify nothing again. jose verifies HS256 through WebCrypto, a thread-pool job per
  // token (41-60 µs of CPU on one core, against ~10 µs for node:crypto's HMAC): the largest
  // item of an uncached publish. 50,000 tokens (~150 bytes each: the stream's request holds
  // the token string anyway) cover an instance's streams and their users.
  const authenticator = createAuthenticator(
    cacheVerifiedTokens(verifyAccess, { maxEntries: 50_000 }),
    streamTokens,
    revocations,
  );
  // Revocations apply here at once and reach every instance over the bus (retried while it is
  // down); each instance drops the revoked user's streams.
  const revocationBroadcast = new RevocationBroadcast(bus, {
    attemptTimeoutMs: 2000,
    retryMs: 1000,
    onError: (error) => app.log.warn({ err: error }, "revocation not broadcast yet; retrying"),
    apply: (revocation) => {
      revocations.add(revocation);
      revocations.prune();
      const ended = hub.endStreams((owner) => revokes(revocation, owner), "revoked");
      if (ended > 0)
        app.log.info({ tenantId: revocation.tenantId, userId: revocation.userId, ended }, "tokens revoked");
    },
  });
  const limiter = new ConnectionLimiter(config.sse.maxConnectionsPerUser);
  const publish = createEventPublisher(bus, metrics, grants);
  const upstream =
    config.upstream.url === undefined
      ? undefined
      : await upstreamClient(config.upstream.url, config.upstream.timeoutMs);
  const idempotency = new IdempotencyStore({
    ttlMs: config.upstream.idempotencyTtlMs,
    maxEntries: 10_000,
    maxTotalBytes: 32 * 1024 * 1024,
    maxResponseBytes: 256 * 1024,
    now,
  });

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
  // Fastify closes only idle connections: end the streams so clients reconnect elsewhere.
  // Keep-alive connections whose last request finishes during the close are closed as they go
  // idle (Fastify's "idle" mode closes only those idle when the close starts).
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook("preClose", async () => {
    hub.close();
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook("onClose", async () => {
    clearInterval(idleSweep);
    revocationBroadcast.close();
    stopPresence();
    presence.close();
    await Promise.all([bus.close(), upstream?.close()]);
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
          .header("retry-after", "5")
          .send(errorBody(503, "server overloaded, retry later", request.id));
      },
    });
  }
  registerSecurityHeaders(app);
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
      "traceparent",
      "tracestate",
    ],
    // A string, not an array: @fastify/cors joins an array again on every request.
    exposedHeaders: "x-request-id, retry-after, etag, location, idempotent-replayed, www-authenticate",
    maxAge: 600,
  });
  const limits = await registerRateLimits(app, config.rateLimit, metrics);
  registerErrorHandling(app, limits, { production: config.production });
  registerAuthentication(app, { authenticator, limits, metrics });

  registerApiDocRoutes(app, { catalog: eventCatalog, strictCatalog: config.catalog.strict });
  registerOpsRoutes(app, {
    bus,
    busKind: bus.kind,
    hub,
    metrics,
    metricsToken: config.metricsToken,
    rateLimitStore: limits.storeStatus,
  });
  registerTokenRoute(app, { streamTokens });
  registerPublishRoute(app, {
    publish,
    inputSchema: withCatalogCheck(publishInputSchema, eventCatalog, config.catalog.strict),
  });
  registerStreamRoute(app, {
    hub,
    limiter,
    grants,
    maxTopicsPerStream: config.topics.maxPerStream,
    heartbeatMs: config.sse.heartbeatMs,
    now,
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
      streamTokens,
      publish,
      grants,
      presence,
      revoke: (revocation) => revocationBroadcast.revoke(revocation),
      revocationTtlS: config.revocationTtlS,
      operations: createOperationCaller({
        upstream,
        idempotency,
        emit: createOperationEmitter({ bus, catalog: eventCatalog, metrics }),
      }),
      deadLetters: bus.deadLetters,
    },
    limiter,
  });
  await registerRawProxy(app, {
    upstream,
    idempotency,
    bodyLimitBytes: config.upstream.bodyLimitBytes,
    behindTrustedProxy: config.trustProxy !== false,
  });
  if (config.demoPage) registerDemoRoutes(app, { devToken: config.production ? undefined : deps.devToken });

  return Object.assign(app as FastifyInstance, { hub, bus, metrics, presence });
}

/** The HTTP client (undici) is loaded only when `UPSTREAM_URL` asks for it. */
async function upstreamClient(url: URL, timeoutMs: number): Promise<UpstreamClient> {
  const { UpstreamClient } = await import("./proxy/upstream-client.js");
  return new UpstreamClient(url, timeoutMs);
}

/** The NATS client is loaded only when `NATS_URL` asks for it: a single instance starts without it. */
async function connectNats(
  config: Config,
  metrics: Metrics,
  app: FastifyInstance,
  onStreamReplaced: ((reason: string) => void) | undefined,
): Promise<NatsBus> {
  const { NatsBus } = await import("./bus/nats-bus.js");
  return NatsBus.connect({
    servers: config.nats.urls ?? [],
    stream: {
      name: config.nats.stream,
      maxAgeMs: config.nats.streamMaxAgeMs,
      maxBytes: config.nats.streamMaxBytes,
      replicas: config.nats.replicas,
    },
    maxMessageBytes: 1_048_576,
    catalog: { events: eventCatalog, strict: config.catalog.strict },
    publishTimeoutMs: 5000,
    queue: {
      maxSize: config.nats.publishQueueSize,
      maxAttempts: config.nats.publishMaxAttempts,
      baseDelayMs: 250,
      maxDelayMs: 5000,
    },
    journalDir: config.nats.journalDir,
    drainTimeoutMs: 5000,
    metrics,
    logger: app.log.child({ component: "nats-bus" }),
    onStreamReplaced,
  });
}
