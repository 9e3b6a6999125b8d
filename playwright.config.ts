import type { BffTestKitOptions } from "@circl-bff/client/testing";
import { defineConfig } from "@playwright/test";
import { gatewayEnv, JWT_SECRET, ports, urls } from "./e2e/gateways.js";

const gateway = (port: number, env: Record<string, string>) => ({
  command: "node server/dist/main.js",
  url: `http://127.0.0.1:${port}/health`,
  env: gatewayEnv(port, env),
  reuseExistingServer: false,
  timeout: 30_000,
  stdout: "ignore" as const,
  stderr: "pipe" as const,
});

/** Browser e2e against real gateways (run `npm run build` first; `npm test` does). */
export default defineConfig<{ bffOptions: BffTestKitOptions }>({
  testDir: "e2e",
  fullyParallel: true,
  workers: 2,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [["list"], ["json", { outputFile: "test-results/playwright.json" }]] : [["list"]],
  outputDir: "test-results/playwright",
  use: {
    baseURL: urls.main,
    bffOptions: { url: urls.main, jwtSecret: JWT_SECRET },
    trace: "retain-on-failure",
    launchOptions: {
      // Debian's Chromium, never a downloaded browser.
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: [
    gateway(ports.main, { CORS_ORIGINS: `${urls.main},${urls.otherOrigin}` }),
    gateway(ports.shortTokens, { STREAM_TOKEN_TTL_S: "5" }),
    gateway(ports.shortStreams, { SSE_MAX_CONNECTION_MS: "3000", SSE_HEARTBEAT_MS: "1000" }),
    gateway(ports.tabs, {}),
    {
      command: `node e2e/static-server.mjs ${ports.otherOrigin}`,
      url: `${urls.otherOrigin}/`,
      reuseExistingServer: false,
      stdout: "ignore",
      stderr: "pipe",
    },
  ],
});
