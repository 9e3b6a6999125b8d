import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import type { AppDeps } from "../../src/app.js";
import { type Gateway, startGateway } from "./gateway.js";
import { NatsServer, natsAvailable } from "./nats-server.js";
import { SseClient } from "./sse-client.js";

export type NatsFixture = {
  server: NatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
};

/** Starts a suite's own nats-server and a backend-side connection to it. */
export async function startNats(maxPayload?: number, serverConfig?: string): Promise<NatsFixture> {
  const server = await NatsServer.create(maxPayload, serverConfig);
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  return { server, nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

export async function stopNats(fixture: NatsFixture | undefined): Promise<void> {
  if (fixture === undefined) return;
  await fixture.nc.close();
  await fixture.server.destroy();
}

/**
 * (Re)starts the suite's server and waits until JetStream answers the fixture's connection: a
 * request sent while the connection was still reconnecting can be lost, and would only time out.
 */
export async function restartNats(fixture: NatsFixture): Promise<void> {
  await fixture.server.start();
  await eventually(
    async () => {
      try {
        await fixture.nc.request("$JS.API.INFO", undefined, { timeout: 500 });
        return true;
      } catch {
        return false;
      }
    },
    15_000,
    "JetStream to answer after the restart",
  );
}

/** Removes the gateway's stream (between tests, once every gateway is closed). */
export async function deleteStream(jsm: JetStreamManager, name = "EVENTS"): Promise<void> {
  await jsm.streams.delete(name).catch(() => undefined);
}

const encoder = new TextEncoder();

/** A backend's message body (contract section 6). */
export function body(value: unknown): Uint8Array {
  return encoder.encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** Resolves once `check()` holds, polling (for state that has no event to await, e.g. a process's /ready). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A NATS test file's fixture: its own nats-server for the file, and after each test the streams
 * closed, then the gateways (and anything given to `closeAfter`), then — with every gateway
 * gone — the server restarted (`restartAfterEach`, for outage tests) and the stream deleted.
 * One after-each hook does it all in that order (vitest runs separate hooks in reverse order).
 */
export function natsSuite(options: { maxPayload?: number; serverConfig?: string; restartAfterEach?: boolean } = {}) {
  const available = natsAvailable();
  let fixture: NatsFixture | undefined;
  const streams: SseClient[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    if (available) fixture = await startNats(options.maxPayload, options.serverConfig);
  });
  afterAll(async () => {
    await stopNats(fixture);
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await Promise.all(closers.splice(0).map((close) => close()));
    if (fixture === undefined) return;
    if (options.restartAfterEach === true) await restartNats(fixture);
    await deleteStream(fixture.jsm);
  });
  const suite = {
    available,
    /** The file's server and a backend-side connection to it (inside tests). */
    get nats(): NatsFixture {
      if (fixture === undefined) throw new Error("the NATS fixture is not started");
      return fixture;
    },
    /** A gateway on the suite's NATS, closed after the test. */
    async gateway(env: Record<string, string> = {}, deps: AppDeps = {}): Promise<Gateway> {
      const gw = await startGateway({ NATS_URL: suite.nats.server.url, ...env }, deps);
      closers.push(() => gw.close());
      return gw;
    },
    /** Runs `close` after the test, with the gateways (e.g. a gateway process). */
    closeAfter(close: () => Promise<unknown>): void {
      closers.push(close);
    },
    /** `GET /events/stream` on `target`, asserted open and attached (`connected` received). */
    async stream(target: { url: string }, token: string, headers: Record<string, string> = {}): Promise<SseClient> {
      const client = await SseClient.open(`${target.url}/events/stream`, {
        authorization: `Bearer ${token}`,
        ...headers,
      });
      streams.push(client);
      expect(client.status).toBe(200);
      await client.waitForEvent("connected");
      return client;
    },
  };
  return suite;
}
