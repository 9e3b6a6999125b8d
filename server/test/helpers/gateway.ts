import type { AddressInfo } from "node:net";
import { join } from "node:path";
import pino, { type DestinationStream } from "pino";
import { type App, type AppDeps, buildApp } from "../../src/app.js";
import { testConfig } from "./config.js";
import { accessToken, type TokenClaims } from "./tokens.js";

export type Gateway = {
  app: App;
  url: string;
  /** An access token for a user (defaults: u1 in tenant t1). */
  token: (claims?: TokenClaims) => Promise<string>;
  /** Publishes through `events.publish` as that user; returns the tRPC result data. */
  publish: (
    token: string,
    input: { type: string; data?: unknown; to: "me" | "tenant" | { topic: string }; idempotencyKey?: string },
  ) => Promise<{ requestId: string; status: string; id?: string }>;
  close: () => Promise<void>;
};

let suiteLog: DestinationStream | undefined;

/** With the suite's log check on (global-setup.ts), every test gateway logs to its folder. */
function suiteLogStream(): DestinationStream | undefined {
  const dir = process.env.CIRCL_TEST_LOG_DIR;
  if (dir === undefined) return undefined;
  suiteLog ??= pino.destination({ dest: join(dir, `${process.pid}.log`), sync: true });
  return suiteLog;
}

/** Builds the app from a test config and listens on a free port of 127.0.0.1. */
export async function startGateway(env: Record<string, string> = {}, deps: AppDeps = {}): Promise<Gateway> {
  const logStream = deps.logStream ?? suiteLogStream();
  const app = await buildApp(testConfig({ ...(logStream === undefined ? {} : { LOG_LEVEL: "debug" }), ...env }), {
    ...deps,
    ...(logStream === undefined ? {} : { logStream }),
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    url,
    token: accessToken,
    async publish(token, input) {
      const res = await fetch(`${url}/trpc/events.publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ data: null, ...input }),
      });
      const body = (await res.json()) as { result?: { data: { requestId: string; status: string; id?: string } } };
      if (!res.ok || body.result === undefined)
        throw new Error(`publish failed: ${res.status} ${JSON.stringify(body)}`);
      return body.result.data;
    },
    close: () => app.close(),
  };
}
