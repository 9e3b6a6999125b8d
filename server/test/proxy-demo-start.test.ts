import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken } from "./helpers/tokens.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    ),
  );
});

/** Runs the built gateway (`npm start`'s process) with exactly `env`; resolves with its URL and output. */
function start(env: Record<string, string>): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ url: match[1] as string, output: () => output });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
}

describe("the gateway process and its upstream", () => {
  it("in development without UPSTREAM_URL, proxies /api/* and proxy.* to the built-in demo upstream", async () => {
    const gw = await start({});
    await expect.poll(() => /export TOKEN=(\S+)/.test(gw.output())).toBe(true);
    const token = /export TOKEN=(\S+)/.exec(gw.output())?.[1] as string;
    expect(gw.output()).toContain("UPSTREAM_URL is not set: /api/* goes to the built-in demo upstream");
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

    const whoami = await fetch(`${gw.url}/api/whoami`, { headers });
    expect(whoami.status).toBe(200);
    expect(await whoami.json()).toMatchObject({ tenantId: "dev-tenant", userId: "dev-user" });
    const created = await fetch(`${gw.url}/api/todos`, {
      method: "POST",
      headers,
      body: JSON.stringify({ title: "hi" }),
    });
    expect(created.status).toBe(201);
    const listed = await fetch(`${gw.url}/trpc/proxy.listTodos`, { headers });
    expect(((await listed.json()) as { result: { data: { items: { title: string }[] } } }).result.data.items).toEqual([
      expect.objectContaining({ title: "hi" }),
    ]);

    // The dev token grants every topic: the demo page can follow one.
    const topicStream = await SseClient.open(`${gw.url}/events/stream?topics=room:lobby&presence=1`, {
      authorization: `Bearer ${token}`,
    });
    try {
      expect(topicStream.status).toBe(200);
      await topicStream.waitForEvent("connected");
    } finally {
      topicStream.close();
    }
  });

  it("in production without UPSTREAM_URL, answers /api/* with 503", async () => {
    const secret = "production-jwt-secret-0123456789abcdef-01";
    const gw = await start({
      NODE_ENV: "production",
      JWT_SECRET: secret,
      STREAM_TOKEN_SECRET: "production-stream-secret-0123456789abcdef",
      CORS_ORIGINS: "https://app.example.com",
    });
    const res = await fetch(`${gw.url}/api/whoami`, {
      headers: { authorization: `Bearer ${await accessToken({ secret })}` },
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ statusCode: 503, error: "Service Unavailable" });
    expect(gw.output()).not.toContain("demo upstream");
  });
});
