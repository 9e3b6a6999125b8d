import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { MAIN, type SpawnedGateway, spawnGateway } from "./helpers/gateway-process.js";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken } from "./helpers/tokens.js";

const JWT_SECRET = "process-test-jwt-secret-0123456789abcdef";
const STREAM_TOKEN_SECRET = "process-test-stream-secret-0123456789abcdef";

const children: ChildProcess[] = [];

/** Starts `node server/dist/main.js` with exactly `env` (plus PATH and HOME); killed after each test. */
function startProcess(env: Record<string, string>): SpawnedGateway {
  const gateway = spawnGateway(env);
  children.push(gateway.child);
  return gateway;
}

/** The non-empty lines the process wrote to stderr. */
function stderrLines(gateway: SpawnedGateway): string[] {
  return gateway
    .stderr()
    .split("\n")
    .filter((line) => line !== "");
}

/** The process's pino lines (JSON on stdout). */
function logLines(gateway: SpawnedGateway): { level: number; msg: string }[] {
  return gateway
    .stdout()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; msg: string });
}

/** The port from pino's "Server listening at http://127.0.0.1:<port>" line. */
async function listeningPort(gateway: SpawnedGateway): Promise<number> {
  const match = await gateway.waitForStdout(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/);
  return Number(match[1]);
}

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (tsc -b) first`);
});

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = new Promise((resolve) => child.once("close", resolve));
      child.kill("SIGKILL");
      await closed;
    }),
  );
});

describe("node server/dist/main.js", () => {
  it("starts in development with no configuration, serves a stream, and shuts down on SIGTERM", async () => {
    const gateway = startProcess({ PORT: "0", HOST: "127.0.0.1" });
    const [, token] = await gateway.waitForStdout(/export TOKEN=(\S+)\n/);
    const portMatch = /Demo page: +http:\/\/localhost:(\d+)\//.exec(gateway.stdout());
    expect(portMatch, gateway.stdout()).not.toBeNull();
    const base = `http://127.0.0.1:${Number(portMatch?.[1])}`;
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });

    // The demo page carries the dev token in development.
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`<meta name="circl-dev-token" content="${token}">`);

    const stream = await SseClient.open(`${base}/events/stream`, { authorization: `Bearer ${token}` });
    expect(stream.status, stream.body).toBe(200);
    await stream.waitForEvent("connected");

    // What the banner tells a new user to run.
    expect(gateway.stdout()).toContain(`http://localhost:${Number(portMatch?.[1])}/events/publish`);
    const res = await fetch(`${base}/events/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "hello", data: { n: 1 }, to: "me" }),
    });
    const body = (await res.json()) as { status: string; id?: string; requestId: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({ requestId: expect.any(String), status: "published", id: expect.any(String) });
    const id = body.id as string;

    await stream.waitFor(() => stream.envelopes().some((e) => e.id === id), 5000, `event ${id}`);
    expect(stream.dataEvents().map((e) => e.id)).toEqual([id]);
    expect(stream.envelopes()).toEqual([
      expect.objectContaining({ id, type: "hello", data: { n: 1 }, tenantId: "dev-tenant", userId: "dev-user" }),
    ]);

    expect(gateway.child.kill("SIGTERM")).toBe(true);
    await stream.waitForEnd(5000);
    expect(await gateway.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(gateway.stderr()).toBe("");
  });

  it("refuses to start in production with nothing configured, one line per missing setting", async () => {
    const gateway = startProcess({ NODE_ENV: "production" });
    expect(await gateway.waitForExit()).toEqual({ code: 1, signal: null });
    expect(stderrLines(gateway)).toEqual([
      "config error: JWT_SECRET or JWKS_URL: required in production (no key material to verify access tokens)",
      "config error: STREAM_TOKEN_SECRET: required in production",
      "config error: CORS_ORIGINS: required in production (comma-separated list of allowed origins)",
    ]);
    expect(gateway.stderr()).not.toMatch(/^\s+at /m);
    expect(gateway.stderr()).not.toContain("ConfigError");
    expect(gateway.stdout()).toBe("");
  });

  it("refuses CORS_ORIGINS=* and a short JWT_SECRET in production", async () => {
    const gateway = startProcess({ NODE_ENV: "production", CORS_ORIGINS: "*", JWT_SECRET: "too-short" });
    expect(await gateway.waitForExit()).toEqual({ code: 1, signal: null });
    expect(stderrLines(gateway)).toEqual([
      "config error: JWT_SECRET: must be at least 32 bytes",
      "config error: STREAM_TOKEN_SECRET: required in production",
      "config error: CORS_ORIGINS: '*' is not allowed (credentials are sent); list the origins",
    ]);
    expect(gateway.stderr()).not.toMatch(/^\s+at /m);
    expect(gateway.stdout()).toBe("");
  });

  it("starts in production with every required setting, without a dev token", async () => {
    const gateway = startProcess({
      NODE_ENV: "production",
      PORT: "0",
      HOST: "127.0.0.1",
      JWT_SECRET,
      STREAM_TOKEN_SECRET,
      CORS_ORIGINS: "https://app.example.com",
    });
    const base = `http://127.0.0.1:${await listeningPort(gateway)}`;

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });

    // No demo page in production unless DEMO_PAGE=true asks for it.
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(404);
    await page.body?.cancel();

    // Tokens signed with the configured secret work; others do not.
    const good = await fetch(`${base}/events/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${await accessToken({ secret: JWT_SECRET })}` },
    });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ token: expect.any(String), expiresIn: 300 });
    const bad = await fetch(`${base}/events/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${await accessToken()}` },
    });
    expect(bad.status).toBe(401);

    expect(gateway.stdout()).not.toContain("export TOKEN=");
    expect(gateway.stdout()).not.toContain("Dev access token");
    expect(gateway.stdout()).not.toContain("development mode");
    expect(gateway.stderr()).toBe("");

    // /metrics is public without METRICS_TOKEN: start-up says so, once, as a warning.
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    const warnings = logLines(gateway).filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual([
      "METRICS_TOKEN is not set: /metrics is public; set METRICS_TOKEN or keep the port away from untrusted networks",
    ]);

    gateway.child.kill("SIGTERM");
    expect(await gateway.waitForExit(5000)).toEqual({ code: 0, signal: null });
  });

  it("in production, serves the demo page only when DEMO_PAGE=true asks, and a protected /metrics is no warning", async () => {
    const gateway = startProcess({
      NODE_ENV: "production",
      PORT: "0",
      HOST: "127.0.0.1",
      JWT_SECRET,
      STREAM_TOKEN_SECRET,
      CORS_ORIGINS: "https://app.example.com",
      METRICS_TOKEN: "scrape-secret-0123456789",
      DEMO_PAGE: "true",
    });
    const base = `http://127.0.0.1:${await listeningPort(gateway)}`;

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<html");
    expect(html).not.toContain("circl-dev-token"); // never a dev token in production
    expect((await fetch(`${base}/metrics`)).status).toBe(401);

    const lines = logLines(gateway);
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    expect(lines.map((line) => line.msg)).toContain("DEMO_PAGE=true: the demo page is served at /");
    expect(gateway.stderr()).toBe("");

    gateway.child.kill("SIGTERM");
    expect(await gateway.waitForExit(5000)).toEqual({ code: 0, signal: null });
  });
});
