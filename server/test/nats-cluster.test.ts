import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { NatsCluster } from "./helpers/nats-cluster.js";
import { natsAvailable } from "./helpers/nats-server.js";
import { eventually } from "./helpers/nats-suite.js";
import { SseClient } from "./helpers/sse-client.js";

const available = natsAvailable();
const EVENTS = 5000;

describe.skipIf(!available)("a three-node JetStream cluster", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let journal: string;
  const gateways: Gateway[] = [];
  const clients: SseClient[] = [];

  beforeAll(async () => {
    cluster = await NatsCluster.create();
    nc = await connect({ servers: cluster.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    // The cluster answers JetStream requests once it has elected its meta leader.
    await eventually(
      async () => {
        try {
          await nc.request("$JS.API.INFO", undefined, { timeout: 1000 });
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      "the JetStream cluster",
    );
    jsm = await jetstreamManager(nc);
    journal = await mkdtemp(join(tmpdir(), "circl-cluster-journal-"));
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(gateways.map((gw) => gw.close()));
    await nc?.close();
    await cluster?.destroy();
    if (journal !== undefined) await rm(journal, { recursive: true, force: true });
  }, 60_000);

  it("SIGKILL of the stream's leader in the middle of publishes over two instances loses, duplicates and reorders nothing", {
    timeout: 180_000,
  }, async () => {
    const env = {
      NATS_URL: cluster.urls,
      NATS_STREAM_REPLICAS: "3",
      NATS_PUBLISH_JOURNAL_DIR: journal,
      RATE_LIMIT_MAX: "100000",
    };
    const a = await startGateway(env);
    const b = await startGateway(env);
    gateways.push(a, b);
    expect((await jsm.streams.info("EVENTS")).config.num_replicas).toBe(3);
    const token = await a.token({ sub: "u1", tenantId: "t1" });
    const open = async (gw: Gateway, lastEventId?: string) => {
      const client = await SseClient.open(`${gw.url}/events/stream`, {
        authorization: `Bearer ${token}`,
        ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
      });
      clients.push(client);
      await client.waitForEvent("connected");
      return client;
    };
    const onA = await open(a);
    const onB = await open(b);

    const published = new Map<number, string>();
    let killed: Promise<void> | undefined;
    for (let i = 1; i <= EVENTS; i++) {
      if (i === 1500) {
        const leader = (await jsm.streams.info("EVENTS")).cluster?.leader as string;
        killed = (async () => {
          await cluster.kill(leader);
          await new Promise((resolve) => setTimeout(resolve, 3000)); // the node is down for 3 s (the scenario)
          await cluster.start(leader);
        })();
      }
      // The same idempotency key on every retry: a publish is stored once however often it is sent.
      for (let attempt = 0; ; attempt++) {
        const gw = i % 2 === 0 ? a : b;
        const res = await fetch(`${gw.url}/events/publish`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "n", data: i, to: "me", idempotencyKey: `n-${i}` }),
        });
        const body = (await res.json()) as { status?: string; id?: string };
        expect(res.status, JSON.stringify(body)).not.toBe(500);
        if (res.status === 200) {
          if (body.status === "published") published.set(i, body.id as string);
          break;
        }
        expect(res.status).toBe(503);
        expect(attempt).toBeLessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await killed;

    for (const client of [onA, onB]) await client.waitForData(EVENTS, 60_000);
    const received = (client: SseClient) => client.envelopes<{ id: string; data: number }>();
    for (const client of [onA, onB]) {
      const events = received(client);
      expect(events).toHaveLength(EVENTS);
      expect(new Set(events.map((e) => e.data)).size).toBe(EVENTS);
      const seqs = events.map((e) => Number(e.id.split("-").at(-1)));
      expect(seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number))).toBe(true);
      const ids = new Set(events.map((e) => e.id));
      for (const [n, id] of published) expect(ids.has(id), `published ${n}`).toBe(true);
    }
    expect(received(onB).map((e) => e.id)).toEqual(received(onA).map((e) => e.id));

    // A client resuming on either instance from the 100th event gets the rest, exactly once, in order.
    const from = received(onA)[99]?.id as string;
    for (const gw of [a, b]) {
      const resumed = await open(gw, from);
      await resumed.waitForData(EVENTS - 100, 30_000);
      expect(received(resumed).map((e) => e.id)).toEqual(
        received(onA)
          .slice(100)
          .map((e) => e.id),
      );
    }
    for (const gw of [a, b]) {
      await expect
        .poll(
          async () => {
            const res = await fetch(`${gw.url}/ready`);
            const metrics = (await (await fetch(`${gw.url}/metrics`)).text())
              .split("\n")
              .filter((l) => /^(nats_gap|nats_reconnects|nats_messages_received|nats_subscriptions)/.test(l));
            return res.status === 200
              ? 200
              : `${res.status} ${await res.text()} ${metrics.join(" ")} ${gw.app.bus.head()}`;
          },
          { timeout: 10_000 },
        )
        .toBe(200);
    }
  });

  it("a stream without a leader (two of three nodes lost): publishes are queued, never a 500 or a dead letter, and stored once it has one again", {
    timeout: 120_000,
  }, async () => {
    const gw = await startGateway({
      NATS_URL: cluster.urls,
      NATS_STREAM_REPLICAS: "3",
      NATS_PUBLISH_JOURNAL_DIR: journal,
      NATS_PUBLISH_MAX_ATTEMPTS: "1000",
    });
    gateways.push(gw);
    const token = await gw.token({ sub: "u2", tenantId: "t1" });
    const client = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
    clients.push(client);
    await client.waitForEvent("connected");
    const leader = (await jsm.streams.info("EVENTS")).cluster?.leader as string;
    const others = cluster.nodes.map((node) => node.name).filter((name) => name !== leader);
    for (const name of others) await cluster.kill(name);

    const answers = [];
    for (let i = 1; i <= 3; i++) {
      const res = await fetch(`${gw.url}/events/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "n", data: i, to: "me" }),
      });
      answers.push([res.status, ((await res.json()) as { status?: string }).status]);
    }
    expect(answers).toEqual([
      [200, "queued"],
      [200, "queued"],
      [200, "queued"],
    ]);

    await Promise.all(others.map((name) => cluster.start(name)));
    await client.waitForData(3, 60_000);
    expect(client.envelopes().map((e) => e.data)).toEqual([1, 2, 3]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^publish_dlq_size 0$/m);
  });
});
