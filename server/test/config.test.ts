import { describe, expect, it } from "vitest";
import { type Config, ConfigError, loadConfig } from "../src/config.js";

const SECRET_A = "a".repeat(32);
const SECRET_B = "b".repeat(40);
const PRODUCTION = {
  NODE_ENV: "production",
  JWT_SECRET: SECRET_A,
  STREAM_TOKEN_SECRET: SECRET_B,
  CORS_ORIGINS: "https://app.example.com",
};

/** The problem lines of the ConfigError `loadConfig(env)` throws; fails if it does not throw one. */
function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.name).toBe("ConfigError");
    expect(configError.message).toBe(configError.problems.join("\n"));
    return configError.problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig in development", () => {
  it("fills in every default of the contract", () => {
    const config = loadConfig({});
    expect(config).toEqual({
      production: false,
      port: 3000,
      host: "0.0.0.0",
      logLevel: "info",
      jwt: {
        secret: expect.any(Uint8Array),
        jwksUrl: undefined,
        issuer: undefined,
        audience: undefined,
        tenantClaim: "tenantId",
        rolesClaim: "roles",
        topicsClaim: "topics",
      },
      streamToken: { secret: expect.any(Uint8Array), ttlS: 300 },
      nats: {
        urls: undefined,
        stream: "EVENTS",
        streamMaxAgeMs: 86_400_000,
        streamMaxBytes: 1_073_741_824,
        publishQueueSize: 10_000,
        replicas: 1,
        journalDir: expect.any(String),
        publishMaxAttempts: 10,
      },
      replayBufferSize: 1000,
      upstream: { url: undefined, timeoutMs: 10_000, bodyLimitBytes: 1_048_576, idempotencyTtlMs: 300_000 },
      corsOrigins: ["http://localhost:3000"],
      rateLimit: { max: 300, windowMs: 60_000, ipMax: 1200, streamMax: 120, redisUrl: undefined },
      sse: { maxConnectionsPerUser: 10, heartbeatMs: 15_000, maxConnectionMs: 3_600_000, maxPendingBytes: 1_048_576 },
      metricsToken: undefined,
      trustProxy: false,
      eventLoopMaxDelayMs: 1000,
      maxSockets: undefined,
      revocationTtlS: 86_400,
      topics: { maxPerStream: 32, authUrl: undefined, authCacheS: 60 },
      catalog: { strict: false },
      demoPage: true,
      tracing: undefined,
    } satisfies Config);
  });

  it("generates random 32-byte secrets, different per start and from each other", () => {
    const a = loadConfig({});
    const b = loadConfig({});
    const secrets = [a.jwt.secret, a.streamToken.secret, b.jwt.secret, b.streamToken.secret].map((s) =>
      Buffer.from(s as Uint8Array).toString("hex"),
    );
    for (const secret of secrets) expect(secret).toHaveLength(64);
    expect(new Set(secrets).size).toBe(4);
  });

  it("treats blank values as unset", () => {
    const config = loadConfig({ JWT_SECRET: "  ", STREAM_TOKEN_SECRET: "", CORS_ORIGINS: " ", JWKS_URL: "" });
    expect(config.jwt.secret).toHaveLength(32);
    expect(config.corsOrigins).toEqual(["http://localhost:3000"]);
    expect(config.jwt.jwksUrl).toBeUndefined();
  });

  it("does not generate an HS256 secret when only JWKS_URL is set", () => {
    const config = loadConfig({ JWKS_URL: "https://idp.example.com/.well-known/jwks.json" });
    expect(config.jwt.secret).toBeUndefined();
    expect(config.jwt.jwksUrl?.href).toBe("https://idp.example.com/.well-known/jwks.json");
  });

  it("reads every variable", () => {
    const config = loadConfig({
      PORT: "8080",
      HOST: "127.0.0.1",
      LOG_LEVEL: "debug",
      JWT_SECRET: SECRET_A,
      JWKS_URL: "https://idp.example.com/jwks",
      JWT_ISSUER: "https://idp.example.com/",
      JWT_AUDIENCE: "api",
      JWT_TENANT_CLAIM: "app_metadata.tenant_id",
      JWT_ROLES_CLAIM: "realm_access.roles",
      STREAM_TOKEN_SECRET: SECRET_B,
      STREAM_TOKEN_TTL_S: "60",
      NATS_URL: "nats://a:4222, nats://b:4222,",
      NATS_STREAM: "MY_EVENTS",
      REPLAY_BUFFER_SIZE: "50",
      UPSTREAM_URL: "http://upstream.internal:8080/",
      UPSTREAM_TIMEOUT_MS: "2500",
      CORS_ORIGINS: "https://a.example.com, http://localhost:5173",
      RATE_LIMIT_MAX: "10",
      RATE_LIMIT_WINDOW_MS: "1000",
      RATE_LIMIT_IP_MAX: "20",
      RATE_LIMIT_STREAM_MAX: "5",
      REDIS_URL: "redis://redis:6379",
      MAX_CONNECTIONS_PER_USER: "3",
      SSE_HEARTBEAT_MS: "500",
      SSE_MAX_CONNECTION_MS: "60000",
      SSE_MAX_PENDING_BYTES: "4096",
      METRICS_TOKEN: "metrics-secret",
      TRUST_PROXY: "10.0.0.0/8, 127.0.0.1",
      EVENT_LOOP_MAX_DELAY_MS: "250",
      REVOCATION_TTL_S: "3600",
      PROXY_BODY_LIMIT_BYTES: "2048",
      NATS_STREAM_MAX_AGE: "1h",
      NATS_STREAM_MAX_BYTES: "2000000",
      NATS_PUBLISH_QUEUE_SIZE: "50",
      NATS_PUBLISH_MAX_ATTEMPTS: "3",
      PROXY_IDEMPOTENCY_TTL_MS: "60000",
    });
    expect(config).toEqual({
      production: false,
      port: 8080,
      host: "127.0.0.1",
      logLevel: "debug",
      jwt: {
        secret: new TextEncoder().encode(SECRET_A),
        jwksUrl: new URL("https://idp.example.com/jwks"),
        issuer: "https://idp.example.com/",
        audience: "api",
        tenantClaim: "app_metadata.tenant_id",
        rolesClaim: "realm_access.roles",
        topicsClaim: "topics",
      },
      streamToken: { secret: new TextEncoder().encode(SECRET_B), ttlS: 60 },
      nats: {
        urls: ["nats://a:4222", "nats://b:4222"],
        stream: "MY_EVENTS",
        streamMaxAgeMs: 3_600_000,
        streamMaxBytes: 2_000_000,
        publishQueueSize: 50,
        replicas: 1,
        journalDir: expect.any(String),
        publishMaxAttempts: 3,
      },
      replayBufferSize: 50,
      upstream: {
        url: new URL("http://upstream.internal:8080/"),
        timeoutMs: 2500,
        bodyLimitBytes: 2048,
        idempotencyTtlMs: 60_000,
      },
      corsOrigins: ["https://a.example.com", "http://localhost:5173"],
      rateLimit: { max: 10, windowMs: 1000, ipMax: 20, streamMax: 5, redisUrl: "redis://redis:6379" },
      sse: { maxConnectionsPerUser: 3, heartbeatMs: 500, maxConnectionMs: 60_000, maxPendingBytes: 4096 },
      metricsToken: "metrics-secret",
      trustProxy: ["10.0.0.0/8", "127.0.0.1"],
      eventLoopMaxDelayMs: 250,
      maxSockets: undefined,
      revocationTtlS: 3600,
      topics: { maxPerStream: 32, authUrl: undefined, authCacheS: 60 },
      catalog: { strict: false },
      demoPage: true,
      tracing: undefined,
    } satisfies Config);
  });

  it("allows the same secret for both token kinds in development only", () => {
    expect(loadConfig({ JWT_SECRET: SECRET_A, STREAM_TOKEN_SECRET: SECRET_A }).production).toBe(false);
    expect(problems({ ...PRODUCTION, STREAM_TOKEN_SECRET: SECRET_A })).toEqual([
      "STREAM_TOKEN_SECRET: must differ from JWT_SECRET",
    ]);
  });
});

describe("loadConfig in production", () => {
  it("accepts a complete configuration and generates nothing", () => {
    const config = loadConfig(PRODUCTION);
    expect(config.production).toBe(true);
    expect(Buffer.from(config.jwt.secret as Uint8Array).toString()).toBe(SECRET_A);
    expect(Buffer.from(config.streamToken.secret).toString()).toBe(SECRET_B);
    expect(config.corsOrigins).toEqual(["https://app.example.com"]);
    expect(config.demoPage).toBe(false);
  });

  it("serves the demo page only when DEMO_PAGE=true asks for it; reads the new topic, catalog and NATS settings", () => {
    expect(loadConfig({ ...PRODUCTION, DEMO_PAGE: "true" }).demoPage).toBe(true);
    expect(loadConfig({ DEMO_PAGE: "false" }).demoPage).toBe(false);
    const config = loadConfig({
      ...PRODUCTION,
      JWT_TOPICS_CLAIM: "app.topics",
      TOPIC_AUTH_URL: "https://api.internal/topics",
      TOPIC_AUTH_CACHE_S: "5",
      MAX_TOPICS_PER_STREAM: "4",
      EVENT_CATALOG_STRICT: "true",
      NATS_STREAM_REPLICAS: "3",
    });
    expect(config.jwt.topicsClaim).toBe("app.topics");
    expect(config.topics).toEqual({ maxPerStream: 4, authUrl: new URL("https://api.internal/topics"), authCacheS: 5 });
    expect(config.catalog.strict).toBe(true);
    expect(config.nats.replicas).toBe(3);
    expect(() => loadConfig({ EVENT_CATALOG_STRICT: "yes" })).toThrow(/EVENT_CATALOG_STRICT: must be true or false/);
    expect(() => loadConfig({ NATS_STREAM_REPLICAS: "0" })).toThrow(ConfigError);
  });

  it("accepts JWKS_URL instead of JWT_SECRET", () => {
    const config = loadConfig({ ...PRODUCTION, JWT_SECRET: undefined, JWKS_URL: "https://idp.example.com/jwks" });
    expect(config.jwt.secret).toBeUndefined();
  });

  it("with nothing set, lists one problem per missing setting", () => {
    expect(problems({ NODE_ENV: "production" })).toEqual([
      "JWT_SECRET or JWKS_URL: required in production (no key material to verify access tokens)",
      "STREAM_TOKEN_SECRET: required in production",
      "CORS_ORIGINS: required in production (comma-separated list of allowed origins)",
    ]);
  });

  it("reports each missing setting on its own", () => {
    expect(problems({ ...PRODUCTION, JWT_SECRET: undefined })).toEqual([
      "JWT_SECRET or JWKS_URL: required in production (no key material to verify access tokens)",
    ]);
    expect(problems({ ...PRODUCTION, STREAM_TOKEN_SECRET: "" })).toEqual([
      "STREAM_TOKEN_SECRET: required in production",
    ]);
    expect(problems({ ...PRODUCTION, CORS_ORIGINS: " , " })).toEqual([
      "CORS_ORIGINS: required in production (comma-separated list of allowed origins)",
    ]);
  });
});

describe("loadConfig refuses invalid values (in every mode)", () => {
  it("refuses secrets shorter than 32 bytes (counted in bytes, not characters)", () => {
    expect(problems({ JWT_SECRET: "x".repeat(31) })).toEqual(["JWT_SECRET: must be at least 32 bytes"]);
    expect(problems({ STREAM_TOKEN_SECRET: "short" })).toEqual(["STREAM_TOKEN_SECRET: must be at least 32 bytes"]);
    expect(problems({ ...PRODUCTION, JWT_SECRET: "x".repeat(31) })).toEqual(["JWT_SECRET: must be at least 32 bytes"]);
    // 16 × "é" is 16 characters but 32 bytes of UTF-8.
    expect(Buffer.from(loadConfig({ JWT_SECRET: "é".repeat(16) }).jwt.secret as Uint8Array)).toHaveLength(32);
    expect(problems({ JWT_SECRET: "é".repeat(15) })).toEqual(["JWT_SECRET: must be at least 32 bytes"]);
  });

  it("refuses '*' in CORS_ORIGINS, alone or in a list", () => {
    const wildcard = "CORS_ORIGINS: '*' is not allowed (credentials are sent); list the origins";
    expect(problems({ CORS_ORIGINS: "*" })).toEqual([wildcard]);
    expect(problems({ ...PRODUCTION, CORS_ORIGINS: "https://app.example.com, *" })).toEqual([wildcard]);
  });

  it("refuses CORS entries that are not origins", () => {
    expect(problems({ CORS_ORIGINS: "https://app.example.com/path,app.example.com" })).toEqual([
      "CORS_ORIGINS: 'https://app.example.com/path' is not an origin (scheme://host[:port], no path)",
      "CORS_ORIGINS: 'app.example.com' is not an origin (scheme://host[:port], no path)",
    ]);
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["STREAM_TOKEN_TTL_S", "4"],
    ["STREAM_TOKEN_TTL_S", "5m"],
    ["REPLAY_BUFFER_SIZE", "0"],
    ["UPSTREAM_TIMEOUT_MS", "1e"],
    ["RATE_LIMIT_MAX", "0"],
    ["RATE_LIMIT_WINDOW_MS", "ten"],
    ["RATE_LIMIT_IP_MAX", "-5"],
    ["RATE_LIMIT_STREAM_MAX", "1.5"],
    ["MAX_CONNECTIONS_PER_USER", "0"],
    ["SSE_HEARTBEAT_MS", "99"],
    ["SSE_MAX_CONNECTION_MS", "999"],
    ["SSE_MAX_PENDING_BYTES", "1023"],
  ])("refuses %s=%s with a line that names the variable", (name, value) => {
    const lines = problems({ [name]: value });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${name}: \\S`));
  });

  it("names the value and the unit expected when a number is not one", () => {
    expect(problems({ PORT: "abc" })).toEqual(['PORT: "abc" is not a port number (0-65535)']);
    expect(problems({ PORT: "70000" })).toEqual(['PORT: "70000" is not a port number (0-65535)']);
    expect(problems({ SSE_HEARTBEAT_MS: "15s" })).toEqual([
      'SSE_HEARTBEAT_MS: "15s" is not a whole number of milliseconds',
    ]);
    expect(problems({ SSE_HEARTBEAT_MS: "99" })).toEqual([
      'SSE_HEARTBEAT_MS: "99" is less than the minimum of 100 milliseconds',
    ]);
    expect(problems({ STREAM_TOKEN_TTL_S: "5m" })).toEqual([
      'STREAM_TOKEN_TTL_S: "5m" is not a whole number of seconds',
    ]);
    expect(problems({ SSE_MAX_PENDING_BYTES: "1 MB" })).toEqual([
      'SSE_MAX_PENDING_BYTES: "1 MB" is not a whole number of bytes',
    ]);
    expect(problems({ NATS_STREAM_REPLICAS: "7" })).toEqual([
      'NATS_STREAM_REPLICAS: "7" is more than the maximum of 5 replicas',
    ]);
    expect(problems({ MAX_SOCKETS: "lots" })).toEqual(['MAX_SOCKETS: "lots" is not a whole number of sockets']);
    // No zod wording leaks through.
    for (const line of problems({ PORT: "x", RATE_LIMIT_WINDOW_MS: "1.5", UPSTREAM_TIMEOUT_MS: "1e" })) {
      expect(line).not.toMatch(/NaN|expected number/);
    }
  });

  it("reads whole numbers with surrounding blanks, and still defaults unset ones", () => {
    const config = loadConfig({ PORT: " 8080 ", SSE_HEARTBEAT_MS: "250", MAX_SOCKETS: "100" });
    expect([config.port, config.sse.heartbeatMs, config.maxSockets, config.rateLimit.max]).toEqual([
      8080, 250, 100, 300,
    ]);
    expect(loadConfig({}).maxSockets).toBeUndefined();
  });

  it("reports every invalid variable at once", () => {
    const lines = problems({ PORT: "x", RATE_LIMIT_MAX: "0", LOG_LEVEL: "loud" });
    expect(lines.map((line) => line.split(":")[0]).sort()).toEqual(["LOG_LEVEL", "PORT", "RATE_LIMIT_MAX"]);
  });

  it("refuses non-HTTP URLs and bad names", () => {
    expect(problems({ JWKS_URL: "file:///etc/jwks.json" })).toEqual([expect.stringMatching(/^JWKS_URL: /)]);
    expect(problems({ UPSTREAM_URL: "not a url" })).toEqual([expect.stringMatching(/^UPSTREAM_URL: /)]);
    expect(problems({ NATS_STREAM: "events.>" })).toEqual([expect.stringMatching(/^NATS_STREAM: /)]);
  });

  it("treats an empty variable as unset, so PORT= does not become port 0", () => {
    const config = loadConfig({ PORT: "", HOST: " ", JWT_TENANT_CLAIM: "", RATE_LIMIT_MAX: "" });
    expect([config.port, config.host, config.jwt.tenantClaim, config.rateLimit.max]).toEqual([
      3000,
      "0.0.0.0",
      "tenantId",
      300,
    ]);
  });

  it("refuses a heartbeat that is not shorter than the connection lifetime", () => {
    expect(problems({ SSE_HEARTBEAT_MS: "5000", SSE_MAX_CONNECTION_MS: "5000" })).toEqual([
      "SSE_HEARTBEAT_MS: must be shorter than SSE_MAX_CONNECTION_MS",
    ]);
  });

  it("collects config problems of several settings in production", () => {
    expect(problems({ NODE_ENV: "production", JWT_SECRET: "short", CORS_ORIGINS: "*" })).toEqual([
      "JWT_SECRET: must be at least 32 bytes",
      "STREAM_TOKEN_SECRET: required in production",
      "CORS_ORIGINS: '*' is not allowed (credentials are sent); list the origins",
    ]);
  });
});

describe("loadConfig: OpenTelemetry tracing", () => {
  it("is off unless an OTLP endpoint is set", () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: "gw" }).tracing).toBeUndefined();
  });

  it("sends to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, as protobuf unless OTEL_EXPORTER_OTLP_PROTOCOL says json", () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracing).toEqual({
      url: new URL("http://collector:4318/v1/traces"),
      protocol: "http/protobuf",
    });
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })
        .tracing,
    ).toEqual({ url: new URL("http://collector:4318/v1/traces"), protocol: "http/json" });
  });

  it("takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, and the traces protocol over the general one", () => {
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example.com/otlp/traces",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }).tracing,
    ).toEqual({ url: new URL("https://traces.example.com/otlp/traces"), protocol: "http/json" });
  });

  it("is off with OTEL_SDK_DISABLED=true, and refuses grpc and non-HTTP endpoints", () => {
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }).tracing,
    ).toBeUndefined();
    expect(
      problems({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
    ).toEqual(["OTEL_EXPORTER_OTLP_PROTOCOL: must be http/protobuf or http/json (grpc is not supported)"]);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toHaveLength(1);
  });
});
