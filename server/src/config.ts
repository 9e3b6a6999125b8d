import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

const MIN_SECRET_BYTES = 32;
const DEV_CORS_ORIGIN = "http://localhost:3000";

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));
const bool = z
  .enum(["true", "false", "1", "0"], { message: "must be true or false" })
  .optional()
  .transform((v) => (v === undefined ? undefined : v === "true" || v === "1"));
/** How a whole-number variable reads in an error: its unit, and what it is when a unit says too little. */
type WholeNumber = { unit: string; min: number; max?: number; kind?: string };

/** The value as an error quotes it (bounded: it may be anything). */
const quoted = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);

/**
 * A whole number from the environment. Its errors name the value and what was expected
 * (`"15s" is not a whole number of milliseconds`), never zod's `expected number, received NaN`.
 */
const whole = (spec: WholeNumber) =>
  z
    .string()
    .optional()
    .transform((value, ctx): number | undefined => {
      if (value === undefined) return undefined;
      const text = value.trim();
      const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      let problem: string | undefined;
      if (!Number.isSafeInteger(n) || (spec.kind !== undefined && (n < spec.min || n > max))) {
        problem = `${quoted(value)} is not ${spec.kind ?? `a whole number of ${spec.unit}`}`;
      } else if (n < spec.min) problem = `${quoted(value)} is less than the minimum of ${spec.min} ${spec.unit}`;
      else if (n > max) problem = `${quoted(value)} is more than the maximum of ${max} ${spec.unit}`;
      if (problem === undefined) return n;
      ctx.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    });
const int = (fallback: number, min: number, unit: string, max?: number) =>
  whole({ unit, min, max }).transform((n) => n ?? fallback);
const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** `90s`, `30m`, `24h`, `7d` (or plain seconds) → milliseconds. */
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const match = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
      if (match === null) {
        ctx.addIssue({ code: "custom", message: "must be a duration like 90s, 30m, 24h or 7d" });
        return z.NEVER;
      }
      return Number(match[1]) * DURATION_UNITS_MS[(match[2] ?? "s") as keyof typeof DURATION_UNITS_MS];
    })
    .pipe(z.number().int().min(1000, { message: "must be at least 1s" }));

const otlpProtocol = z
  .enum(["http/protobuf", "http/json"], { message: "must be http/protobuf or http/json (grpc is not supported)" })
  .optional();

const envSchema = z.object({
  NODE_ENV: optionalString,
  PORT: whole({ unit: "", min: 0, max: 65535, kind: "a port number (0-65535)" }).transform((n) => n ?? 3000),
  HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  JWT_SECRET: optionalString,
  JWKS_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_TENANT_CLAIM: z.string().min(1).default("tenantId"),
  JWT_ROLES_CLAIM: z.string().min(1).default("roles"),
  JWT_TOPICS_CLAIM: z.string().min(1).default("topics"),
  TOPIC_AUTH_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  TOPIC_AUTH_CACHE_S: int(60, 0, "seconds"),
  MAX_TOPICS_PER_STREAM: int(32, 1, "topics"),
  DEMO_PAGE: bool,
  EVENT_CATALOG_STRICT: bool,
  NATS_STREAM_REPLICAS: int(1, 1, "replicas", 5),
  STREAM_TOKEN_SECRET: optionalString,
  STREAM_TOKEN_TTL_S: int(300, 5, "seconds"),
  NATS_URL: optionalString,
  NATS_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default("EVENTS"),
  NATS_STREAM_MAX_AGE: duration("24h"),
  NATS_STREAM_MAX_BYTES: int(1_073_741_824, 1_048_576, "bytes"),
  NATS_PUBLISH_QUEUE_SIZE: int(10_000, 1, "publishes"),
  NATS_PUBLISH_MAX_ATTEMPTS: int(10, 1, "attempts"),
  NATS_PUBLISH_JOURNAL_DIR: optionalString,
  REPLAY_BUFFER_SIZE: int(1000, 1, "events"),
  UPSTREAM_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  UPSTREAM_TIMEOUT_MS: int(10_000, 1, "milliseconds"),
  PROXY_BODY_LIMIT_BYTES: int(1_048_576, 1, "bytes"),
  PROXY_IDEMPOTENCY_TTL_MS: int(300_000, 1000, "milliseconds"),
  CORS_ORIGINS: optionalString,
  RATE_LIMIT_MAX: int(300, 1, "requests"),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1, "milliseconds"),
  RATE_LIMIT_IP_MAX: int(1200, 1, "requests"),
  RATE_LIMIT_STREAM_MAX: int(120, 1, "connection attempts"),
  REDIS_URL: optionalString,
  MAX_CONNECTIONS_PER_USER: int(10, 1, "streams"),
  SSE_HEARTBEAT_MS: int(15_000, 100, "milliseconds"),
  SSE_MAX_CONNECTION_MS: int(3_600_000, 1000, "milliseconds"),
  SSE_MAX_PENDING_BYTES: int(1_048_576, 1024, "bytes"),
  METRICS_TOKEN: optionalString,
  TRUST_PROXY: optionalString,
  EVENT_LOOP_MAX_DELAY_MS: int(1000, 0, "milliseconds"),
  MAX_SOCKETS: whole({ unit: "sockets", min: 1 }),
  REVOCATION_TTL_S: int(86_400, 1, "seconds"),
  // The OpenTelemetry SDK's standard variables that decide whether and where traces go; the SDK
  // reads the others itself (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, ...).
  OTEL_SDK_DISABLED: bool,
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
});

/** Every environment variable the gateway reads (deploy files are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

const encoder = new TextEncoder();

/**
 * Everything the gateway reads from its environment, parsed once in `main.ts`: the type is
 * what `configFrom` builds, so the schema above and the mapping below are the only two places.
 */
export type Config = ReturnType<typeof configFrom>;

/** The parsed environment as the gateway uses it (checked by `loadConfig` before). */
function configFrom(e: z.output<typeof envSchema>, production: boolean, corsOrigins: string[]) {
  // Development without key material: a random HS256 secret per start (never in production).
  const jwtSecret: Uint8Array | undefined =
    e.JWT_SECRET !== undefined
      ? encoder.encode(e.JWT_SECRET)
      : e.JWKS_URL === undefined
        ? randomBytes(MIN_SECRET_BYTES)
        : undefined;
  const streamTokenSecret: Uint8Array =
    e.STREAM_TOKEN_SECRET !== undefined ? encoder.encode(e.STREAM_TOKEN_SECRET) : randomBytes(MIN_SECRET_BYTES);
  return {
    production,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    jwt: {
      /** HS256 key; set in development even when not configured (random per start). */
      secret: jwtSecret,
      jwksUrl: e.JWKS_URL === undefined ? undefined : new URL(e.JWKS_URL),
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      tenantClaim: e.JWT_TENANT_CLAIM,
      rolesClaim: e.JWT_ROLES_CLAIM,
      /** Claim holding the topic patterns the user may subscribe to. */
      topicsClaim: e.JWT_TOPICS_CLAIM,
    },
    topics: {
      /** Most topics one stream may ask for. */
      maxPerStream: e.MAX_TOPICS_PER_STREAM,
      /** Asked about topics no pattern grants; answers reused for `authCacheS`. */
      authUrl: e.TOPIC_AUTH_URL === undefined ? undefined : new URL(e.TOPIC_AUTH_URL),
      authCacheS: e.TOPIC_AUTH_CACHE_S,
    },
    catalog: {
      /** Refuse event types outside the catalog. */
      strict: e.EVENT_CATALOG_STRICT ?? false,
    },
    /** Serve the demo page at `/`. */
    demoPage: e.DEMO_PAGE ?? !production,
    streamToken: { secret: streamTokenSecret, ttlS: e.STREAM_TOKEN_TTL_S },
    nats: {
      urls: e.NATS_URL?.split(",")
        .map((u) => u.trim())
        .filter((u) => u !== ""),
      stream: e.NATS_STREAM,
      streamMaxAgeMs: e.NATS_STREAM_MAX_AGE,
      streamMaxBytes: e.NATS_STREAM_MAX_BYTES,
      publishQueueSize: e.NATS_PUBLISH_QUEUE_SIZE,
      publishMaxAttempts: e.NATS_PUBLISH_MAX_ATTEMPTS,
      /** Replicas of the stream when the gateway creates it. */
      replicas: e.NATS_STREAM_REPLICAS,
      /** Where queued publishes are journaled; undefined: none are queued (503 while NATS is unreachable). */
      journalDir:
        e.NATS_PUBLISH_JOURNAL_DIR === "off"
          ? undefined
          : (e.NATS_PUBLISH_JOURNAL_DIR ?? join(tmpdir(), "circl-bff", "publish-journal")),
    },
    replayBufferSize: e.REPLAY_BUFFER_SIZE,
    upstream: {
      url: e.UPSTREAM_URL === undefined ? undefined : new URL(e.UPSTREAM_URL),
      timeoutMs: e.UPSTREAM_TIMEOUT_MS,
      bodyLimitBytes: e.PROXY_BODY_LIMIT_BYTES,
      idempotencyTtlMs: e.PROXY_IDEMPOTENCY_TTL_MS,
    },
    corsOrigins,
    rateLimit: {
      max: e.RATE_LIMIT_MAX,
      windowMs: e.RATE_LIMIT_WINDOW_MS,
      ipMax: e.RATE_LIMIT_IP_MAX,
      streamMax: e.RATE_LIMIT_STREAM_MAX,
      redisUrl: e.REDIS_URL,
    },
    sse: {
      maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
      heartbeatMs: e.SSE_HEARTBEAT_MS,
      maxConnectionMs: e.SSE_MAX_CONNECTION_MS,
      maxPendingBytes: e.SSE_MAX_PENDING_BYTES,
    },
    metricsToken: e.METRICS_TOKEN,
    /** Fastify `trustProxy`: false, true, a hop count, or a list of proxy addresses/CIDRs. */
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    /** New requests get 503 while the event loop lags more than this (0 disables). */
    eventLoopMaxDelayMs: e.EVENT_LOOP_MAX_DELAY_MS,
    /** Client sockets open at once (beyond it new ones are closed); undefined: from the descriptor limit. */
    maxSockets: e.MAX_SOCKETS,
    /** How long a revocation is kept: at least the longest access-token lifetime you issue. */
    revocationTtlS: e.REVOCATION_TTL_S,
    /**
     * OpenTelemetry traces over OTLP/HTTP to `url` (the traces endpoint, `…/v1/traces`); undefined:
     * tracing is off and nothing of the OpenTelemetry SDK is loaded.
     */
    tracing: tracingSettings(e),
  };
}

export type OtlpProtocol = "http/protobuf" | "http/json";

/**
 * On when an OTLP endpoint is set (and `OTEL_SDK_DISABLED` is not true). As the OpenTelemetry
 * specification says: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the traces URL as it is, the
 * general `OTEL_EXPORTER_OTLP_ENDPOINT` gets `/v1/traces` appended; protobuf unless set.
 */
function tracingSettings(e: z.output<typeof envSchema>): { url: URL; protocol: OtlpProtocol } | undefined {
  if (e.OTEL_SDK_DISABLED === true) return undefined;
  const url =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? undefined
      : `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces`);
  if (url === undefined) return undefined;
  return {
    url: new URL(url),
    protocol: e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf",
  };
}

/**
 * Parses the environment. Development fills insecure defaults in (random secrets, a localhost
 * CORS origin); production refuses them: every problem is collected, one line each.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set" (PORT= must not silently become port 0).
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ""),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".") || "environment"}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const production = e.NODE_ENV === "production";
  const problems: string[] = [];

  if (e.JWT_SECRET !== undefined && encoder.encode(e.JWT_SECRET).length < MIN_SECRET_BYTES) {
    problems.push(`JWT_SECRET: must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  if (production && e.JWT_SECRET === undefined && e.JWKS_URL === undefined) {
    problems.push("JWT_SECRET or JWKS_URL: required in production (no key material to verify access tokens)");
  }
  if (e.STREAM_TOKEN_SECRET !== undefined && encoder.encode(e.STREAM_TOKEN_SECRET).length < MIN_SECRET_BYTES) {
    problems.push(`STREAM_TOKEN_SECRET: must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  if (production && e.STREAM_TOKEN_SECRET === undefined) {
    problems.push("STREAM_TOKEN_SECRET: required in production");
  }
  if (production && e.JWT_SECRET !== undefined && e.JWT_SECRET === e.STREAM_TOKEN_SECRET) {
    problems.push("STREAM_TOKEN_SECRET: must differ from JWT_SECRET");
  }
  const corsOrigins = (e.CORS_ORIGINS ?? (production ? "" : DEV_CORS_ORIGIN))
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
  if (production && corsOrigins.length === 0) {
    problems.push("CORS_ORIGINS: required in production (comma-separated list of allowed origins)");
  }
  if (corsOrigins.includes("*")) {
    problems.push("CORS_ORIGINS: '*' is not allowed (credentials are sent); list the origins");
  }
  for (const origin of corsOrigins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS: '${origin}' is not an origin (scheme://host[:port], no path)`);
    }
  }
  if (e.SSE_HEARTBEAT_MS >= e.SSE_MAX_CONNECTION_MS) {
    problems.push("SSE_HEARTBEAT_MS: must be shorter than SSE_MAX_CONNECTION_MS");
  }
  if (e.UPSTREAM_URL !== undefined) {
    const upstream = new URL(e.UPSTREAM_URL);
    if (upstream.username !== "" || upstream.password !== "" || upstream.search !== "" || upstream.hash !== "") {
      problems.push("UPSTREAM_URL: must not contain credentials, a query or a fragment");
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return configFrom(e, production, corsOrigins);
}

function parseTrustProxy(value: string | undefined): boolean | number | string[] {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}
