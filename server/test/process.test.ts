import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken } from "./helpers/tokens.js";

/** The built entry point; the test run happens after `npm run build`. */
const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

const JWT_SECRET = "process-test-jwt-secret-0123456789abcdef";
const STREAM_TOKEN_SECRET = "process-test-stream-secret-0123456789abcdef";

type Exit = { code: number | null; signal: NodeJS.Signals | null };

type Gateway = {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Exit>;
  /** Resolves with the match once stdout matches; rejects if the process exits first or on timeout. */
  waitForStdout: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  /** Resolves with the exit; rejects when the process is still running after `timeoutMs`. */
  waitForExit: (timeoutMs?: number) => Promise<Exit>;
};

const children: ChildProcess[] = [];

/** Starts `node server/dist/main.js` with exactly `env` (plus PATH and HOME). */
function startProcess(env: Record<string, string>): Gateway {
  const child = spawn(process.execPath, [MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  // `close` fires after the exit and after stdout/stderr have been read to the end.
  const exited = new Promise<Exit>((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const describeOutput = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStdout(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (match === null) return;
          cleanup();
          resolve(match);
        };
        const onExit = (exit: Exit) => {
          cleanup();
          reject(
            new Error(`process exited (${JSON.stringify(exit)}) before stdout matched ${pattern}${describeOutput()}`),
          );
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`stdout did not match ${pattern} within ${timeoutMs} ms${describeOutput()}`));
        }, timeoutMs);
        let done = false;
        const cleanup = () => {
          done = true;
          clearTimeout(timer);
          child.stdout?.off("data", check);
        };
        child.stdout?.on("data", check);
        void exited.then((exit) => {
          if (!done) onExit(exit);
        });
        check();
      });
    },
    waitForExit(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`process still running after ${timeoutMs} ms${describeOutput()}`)),
          timeoutMs,
        );
        void exited.then((exit) => {
          clearTimeout(timer);
          resolve(exit);
        });
      });
    },
  };
}

/** The port from pino's "Server listening at http://127.0.0.1:<port>" line. */
async function listeningPort(gateway: Gateway): Promise<number> {
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
    expect(
      gateway
        .stderr()
        .split("\n")
        .filter((line) => line !== ""),
    ).toEqual([
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
    expect(
      gateway
        .stderr()
        .split("\n")
        .filter((line) => line !== ""),
    ).toEqual([
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

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain("circl-dev-token");

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

    gateway.child.kill("SIGTERM");
    expect(await gateway.waitForExit(5000)).toEqual({ code: 0, signal: null });
  });
});
