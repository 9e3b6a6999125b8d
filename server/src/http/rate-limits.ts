import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import rateLimit, { normalizeIP } from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { Metrics } from "../metrics.js";
import { sendError } from "./error-response.js";

/**
 * The budgets (docs/protocol.md, "Endpoints"):
 * - `ip`: unauthenticated and failed-auth requests per client IP (cheap refusal of token floods);
 * - `token-ip`: the same on `POST /events/token`, ten times stricter;
 * - `user`: API and tRPC calls per user;
 * - `stream`: stream connection attempts per user, raw and tRPC together.
 */
type LimitScope = "ip" | "token-ip" | "user" | "stream";

/** How long one Redis command may take before the limit is skipped (fail-open) for that request. */
const REDIS_COMMAND_TIMEOUT_MS = 250;
/** How often the store is pinged to tell `/ready` whether limits are enforced across instances. */
const REDIS_PROBE_MS = 2000;

export type RateLimits = {
  /** `"ok"`, `"unavailable"` (limits are skipped: fail-open), or undefined without `REDIS_URL`. */
  storeStatus(): "ok" | "unavailable" | undefined;
  /** Counts one request against the scope; true when it is over budget. */
  hit(scope: LimitScope, request: FastifyRequest): Promise<boolean>;
  /** True when the scope is already over budget, without counting. */
  exceeded(scope: LimitScope, request: FastifyRequest): Promise<boolean>;
  /** Answers 429 with Retry-After. */
  reject(scope: LimitScope, request: FastifyRequest, reply: FastifyReply): FastifyReply;
};

function userKey(request: FastifyRequest): string {
  const identity = request.identity;
  return identity === undefined
    ? `ip:${normalizeIP(request.ip)}`
    : JSON.stringify([identity.tenantId, identity.userId]);
}

/** Loaded only when `REDIS_URL` asks for it: a single instance starts without the client. */
async function redisClient(url: string) {
  const { Redis } = await import("ioredis");
  // `commandTimeout`: a Redis that hangs (SIGSTOP, a full network buffer) answers nothing and
  // closes nothing; without it every request would wait on its rate-limit command forever.
  return new Redis(url, {
    connectTimeout: 2000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
}

export async function registerRateLimits(
  app: FastifyInstance,
  config: Config["rateLimit"],
  metrics: Metrics,
): Promise<RateLimits> {
  const redis = config.redisUrl === undefined ? undefined : await redisClient(config.redisUrl);
  let storeHealthy = true;
  if (redis !== undefined) {
    const probe = setInterval(() => {
      redis.ping().then(
        () => {
          storeHealthy = true;
        },
        () => {
          if (storeHealthy) app.log.warn("rate-limit store not answering: limits are skipped until it does");
          storeHealthy = false;
        },
      );
    }, REDIS_PROBE_MS);
    probe.unref();
    app.addHook("onClose", async () => clearInterval(probe));
    redis.on("error", (error) => app.log.warn({ err: error }, "rate-limit store unavailable"));
    app.addHook("onClose", async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
    // Start counting from the first request: wait (briefly) for the store before serving.
    const waiting = new AbortController();
    await Promise.race([
      once(redis, "ready", { signal: waiting.signal }),
      delay(3000, undefined, { signal: waiting.signal }),
    ]);
    waiting.abort();
    if (redis.status !== "ready") app.log.warn("rate-limit store not reachable yet; limits apply once it is");
  }
  await app.register(rateLimit, {
    global: false,
    timeWindow: config.windowMs,
    nameSpace: "circl-bff:rl:",
    // A store outage must not take the API down with it; the limits resume with the store.
    skipOnError: true,
    ...(redis === undefined ? {} : { redis }),
  });
  const ip = (request: FastifyRequest) => normalizeIP(request.ip);
  // Each limiter gets its own in-memory store: an LRU of `cache` keys (the plugin's default is
  // 5,000). Beyond it the least recent user's or IP's count is dropped and its budget silently
  // starts over; an instance holds 10,000 streams and their users. ~180 bytes per key. The
  // plugin honours `cache` here (each limiter's store is sized by it), its types omit it.
  const limiter = (max: number, keyGenerator: (request: FastifyRequest) => string) =>
    app.createRateLimit({ max, keyGenerator, cache: 50_000 } as Parameters<typeof app.createRateLimit>[0]);
  const limiters = {
    ip: limiter(config.ipMax, (request) => `ip:${ip(request)}`),
    "token-ip": limiter(Math.max(1, Math.ceil(config.ipMax / 10)), (request) => `token-ip:${ip(request)}`),
    user: limiter(config.max, (request) => `user:${userKey(request)}`),
    stream: limiter(config.streamMax, (request) => `stream:${userKey(request)}`),
  } satisfies Record<LimitScope, unknown>;
  const retryAfter = new WeakMap<FastifyRequest, number>();

  async function check(scope: LimitScope, request: FastifyRequest, increment: boolean): Promise<boolean> {
    const result = await limiters[scope](request, { increment });
    if (result.isAllowed) return false;
    // Counting: over once this request went past the budget. Peeking: over once the budget is
    // used up, so the next request is refused before any work.
    const over = increment ? result.isExceeded : result.remaining <= 0;
    if (over) retryAfter.set(request, Math.max(1, result.ttlInSeconds));
    return over;
  }

  return {
    storeStatus: () =>
      redis === undefined ? undefined : storeHealthy && redis.status === "ready" ? "ok" : "unavailable",
    hit: (scope, request) => check(scope, request, true),
    exceeded: (scope, request) => check(scope, request, false),
    reject(scope, request, reply) {
      metrics.rateLimited.labels(scope).inc();
      reply.header("retry-after", String(retryAfter.get(request) ?? Math.ceil(config.windowMs / 1000)));
      return sendError(reply, 429, "rate limit exceeded, retry later");
    },
  };
}
