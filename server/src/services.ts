import { eventCatalog } from "@circl-bff/shared";
import type { FastifyBaseLogger } from "fastify";
import { createAccessTokenVerifier } from "./auth/access-token.js";
import { type Authenticator, createAuthenticator } from "./auth/authenticator.js";
import { createStreamTokens, type StreamTokens } from "./auth/stream-token.js";
import { createTokenRevocation, type TokenRevocation } from "./auth/token-revocation.js";
import { TopicGrants } from "./auth/topic-grants.js";
import { cacheVerifiedTokens } from "./auth/verified-token-cache.js";
import type { EventBus } from "./bus/event-bus.js";
import { MemoryBus } from "./bus/memory-bus.js";
import type { NatsBus } from "./bus/nats-bus.js";
import type { Config } from "./config.js";
import { createMetrics, initBusSeries, type Metrics } from "./metrics.js";
import { PresenceTracker } from "./presence/presence-tracker.js";
import { IdempotencyStore } from "./proxy/idempotency-store.js";
import { createOperationCaller, type OperationCaller } from "./proxy/operation-caller.js";
import { createOperationEmitter } from "./proxy/operation-events.js";
import type { UpstreamClient } from "./proxy/upstream-client.js";
import { ConnectionLimiter } from "./stream/connection-limiter.js";
import { createEventPublisher, type EventPublisher } from "./stream/event-publisher.js";
import { Hub, UnframableEventError } from "./stream/hub.js";

/** How often an instance re-announces its presence entries, and when another's stale ones expire. */
const PRESENCE_REFRESH_MS = 5000;
const PRESENCE_EXPIRE_MS = 15_000;

/**
 * The hub's shared timer drives heartbeats, maximum durations and token expiry: a quarter of
 * the heartbeat interval keeps a heartbeat within 25 % of its time, between 20 ms (no busy
 * timer for tiny test intervals) and 1 s.
 */
const HUB_TICK_MIN_MS = 20;
const HUB_TICK_MAX_MS = 1000;
/** How long a key's bus subscription and replay buffer outlive its last stream: a reconnect resumes from memory. */
const HUB_LINGER_MS = 30_000;

/**
 * Verified access tokens kept for calls and streams alike. jose verifies HS256 through
 * WebCrypto, a thread-pool job per token (41-60 µs of CPU on one core, against ~10 µs for
 * node:crypto's HMAC): the largest item of an uncached publish. 50,000 tokens (~150 bytes each:
 * the stream's request holds the token string anyway) cover an instance's streams and users.
 */
const VERIFIED_TOKENS_MAX = 50_000;

/** Stored proxy answers replayed for a repeated `Idempotency-Key`: bounded by count and bytes. */
const IDEMPOTENCY_MAX_ENTRIES = 10_000;
const IDEMPOTENCY_MAX_TOTAL_BYTES = 32 * 1024 * 1024;
const IDEMPOTENCY_MAX_RESPONSE_BYTES = 256 * 1024;

/** NATS: the largest message the gateway publishes or accepts, and what its client may wait for. */
const NATS_MAX_MESSAGE_BYTES = 1_048_576;
const NATS_PUBLISH_TIMEOUT_MS = 5000;
const NATS_DRAIN_TIMEOUT_MS = 5000;
/** Backoff of the publish retry queue while NATS is unreachable: doubling from the base, capped. */
const PUBLISH_RETRY_BASE_DELAY_MS = 250;
const PUBLISH_RETRY_MAX_DELAY_MS = 5000;

export type ServiceDeps = {
  /** The event bus; an in-process bus when omitted. `close()` closes it. */
  bus?: EventBus;
  now?: () => number;
  /** Dev access token the demo page may use (development only). */
  devToken?: string;
  /** The JetStream stream was deleted or replaced while running (NATS bus): the process should restart. */
  onStreamReplaced?: (reason: string) => void;
  log: FastifyBaseLogger;
};

/** Everything the routes use, built once per app from the config: no HTTP in here. */
export type Services = {
  readonly config: Config;
  readonly now: () => number;
  readonly metrics: Metrics;
  readonly bus: EventBus;
  readonly presence: PresenceTracker;
  readonly hub: Hub;
  readonly grants: TopicGrants;
  readonly streamTokens: StreamTokens;
  readonly revocation: TokenRevocation;
  readonly authenticator: Authenticator;
  readonly limiter: ConnectionLimiter;
  readonly publish: EventPublisher;
  readonly upstream: UpstreamClient | undefined;
  readonly idempotency: IdempotencyStore;
  readonly operations: OperationCaller;
  /** Served to the demo page in development only. */
  readonly devToken: string | undefined;
  /** Stops what the services run (the hub's streams end before, on `preClose`), the bus last. */
  close(): Promise<void>;
};

export async function createServices(config: Config, deps: ServiceDeps): Promise<Services> {
  const now = deps.now ?? Date.now;
  const { log } = deps;
  const metrics = createMetrics();
  const bus: EventBus =
    deps.bus ??
    (config.nats.urls === undefined
      ? new MemoryBus({ historySize: config.replayBufferSize, now })
      : await connectNats(config, metrics, log, deps.onStreamReplaced));
  initBusSeries(metrics, bus);
  const presence = new PresenceTracker(bus, {
    refreshMs: PRESENCE_REFRESH_MS,
    expireMs: PRESENCE_EXPIRE_MS,
    onError: (error) => log.warn({ err: error }, "presence message not sent"),
  });
  const hub = new Hub(
    bus,
    {
      replayBufferSize: config.replayBufferSize,
      maxPendingBytes: config.sse.maxPendingBytes,
      maxConnectionMs: config.sse.maxConnectionMs,
      tickMs: Math.max(HUB_TICK_MIN_MS, Math.min(HUB_TICK_MAX_MS, Math.floor(config.sse.heartbeatMs / 4))),
      lingerMs: HUB_LINGER_MS,
      now,
      flushWhenIdle: bus.kind === "memory",
      onError: (error) =>
        error instanceof UnframableEventError
          ? log.error({ seq: error.seq, type: error.type, err: error.cause }, "event cannot be framed, skipped")
          : log.error({ err: error }, "stream catch-up failed"),
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
  const revocation = createTokenRevocation({
    bus,
    now,
    endStreams: (match) => hub.endStreams(match, "revoked"),
    log,
  });
  // One cache for calls and streams: the first call after a client connects, and a reconnect
  // storm, verify nothing again.
  const authenticator = createAuthenticator(
    cacheVerifiedTokens(createAccessTokenVerifier(config.jwt), { maxEntries: VERIFIED_TOKENS_MAX }),
    streamTokens,
    revocation.list,
  );
  const upstream =
    config.upstream.url === undefined
      ? undefined
      : await upstreamClient(config.upstream.url, config.upstream.timeoutMs);
  const idempotency = new IdempotencyStore({
    ttlMs: config.upstream.idempotencyTtlMs,
    maxEntries: IDEMPOTENCY_MAX_ENTRIES,
    maxTotalBytes: IDEMPOTENCY_MAX_TOTAL_BYTES,
    maxResponseBytes: IDEMPOTENCY_MAX_RESPONSE_BYTES,
    now,
  });
  return {
    config,
    now,
    metrics,
    bus,
    presence,
    hub,
    grants,
    streamTokens,
    revocation,
    authenticator,
    limiter: new ConnectionLimiter(config.sse.maxConnectionsPerUser),
    publish: createEventPublisher(bus, metrics, grants),
    upstream,
    idempotency,
    operations: createOperationCaller({
      upstream,
      idempotency,
      emit: createOperationEmitter({ bus, catalog: eventCatalog, metrics }),
    }),
    devToken: config.production ? undefined : deps.devToken,
    async close() {
      revocation.broadcast.close();
      stopPresence();
      presence.close();
      await Promise.all([bus.close(), upstream?.close()]);
    },
  };
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
  log: FastifyBaseLogger,
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
    maxMessageBytes: NATS_MAX_MESSAGE_BYTES,
    catalog: { events: eventCatalog, strict: config.catalog.strict },
    publishTimeoutMs: NATS_PUBLISH_TIMEOUT_MS,
    queue: {
      maxSize: config.nats.publishQueueSize,
      maxAttempts: config.nats.publishMaxAttempts,
      baseDelayMs: PUBLISH_RETRY_BASE_DELAY_MS,
      maxDelayMs: PUBLISH_RETRY_MAX_DELAY_MS,
    },
    journalDir: config.nats.journalDir,
    drainTimeoutMs: NATS_DRAIN_TIMEOUT_MS,
    metrics,
    logger: log.child({ component: "nats-bus" }),
    onStreamReplaced,
  });
}
