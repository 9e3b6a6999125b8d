import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "./nats-server.js";

export type NatsFixture = {
  server: NatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
};

/** Starts a suite's own nats-server and a backend-side connection to it. */
export async function startNats(maxPayload?: number): Promise<NatsFixture> {
  const server = await NatsServer.create(maxPayload);
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
