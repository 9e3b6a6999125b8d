import { type Config, loadConfig } from "../../src/config.js";

export const TEST_JWT_SECRET = "test-jwt-secret-0123456789abcdef-0123456789";
export const TEST_STREAM_SECRET = "test-stream-secret-0123456789abcdef-012345";

/** A development config with fixed secrets, quiet logs and the given overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    JWT_SECRET: TEST_JWT_SECRET,
    STREAM_TOKEN_SECRET: TEST_STREAM_SECRET,
    LOG_LEVEL: "silent",
    PORT: "0",
    HOST: "127.0.0.1",
    // Test clients share the gateway's event loop; only the load-shedding test turns shedding on.
    EVENT_LOOP_MAX_DELAY_MS: "0",
    ...env,
  });
}
