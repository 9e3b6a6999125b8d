/** The gateways (and the second-origin static server) the e2e suite starts; one place for ports and secrets. */
export const JWT_SECRET = "e2e-jwt-secret-0123456789abcdef-0123456789";
const STREAM_TOKEN_SECRET = "e2e-stream-secret-0123456789abcdef-012345";

const host = "127.0.0.1";
export const ports = { main: 3917, shortTokens: 3918, shortStreams: 3919, otherOrigin: 3920, tabs: 3921 } as const;
export const urls = {
  /** Default settings; lists the second origin in CORS_ORIGINS. */
  main: `http://${host}:${ports.main}`,
  /** STREAM_TOKEN_TTL_S=5. */
  shortTokens: `http://${host}:${ports.shortTokens}`,
  /** SSE_MAX_CONNECTION_MS=3000; does not list the second origin. */
  shortStreams: `http://${host}:${ports.shortStreams}`,
  /** Default settings, used by the tab-sharing test alone so its stream count is exact. */
  tabs: `http://${host}:${ports.tabs}`,
  /** A static copy of the demo page on another port (another origin). */
  otherOrigin: `http://${host}:${ports.otherOrigin}`,
} as const;

export function gatewayEnv(port: number, overrides: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: "development",
    PORT: String(port),
    HOST: host,
    LOG_LEVEL: "warn",
    JWT_SECRET,
    STREAM_TOKEN_SECRET,
    // Generous budgets: the suite opens many streams for few users.
    RATE_LIMIT_MAX: "100000",
    RATE_LIMIT_IP_MAX: "100000",
    RATE_LIMIT_STREAM_MAX: "100000",
    ...overrides,
  };
}
