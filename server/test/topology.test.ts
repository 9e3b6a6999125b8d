import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTopology, type Topology, until } from "../../topology/src/index.js";
import { TEST_JWT_SECRET, TEST_STREAM_SECRET } from "./helpers/config.js";
import { H2Client } from "./helpers/h2-client.js";
import { ResumingSseReader } from "./helpers/resuming-sse-reader.js";
import { accessToken } from "./helpers/tokens.js";
import { deliveryProblems, seqOf, TickPublisher, watchReadiness } from "./helpers/topology-load.js";

const STREAMS = 500;
/** Connections to the proxy the readers share (Caddy allows 250 streams on one). */
const SESSIONS = 5;
/** Stream attempts per user and window: small, so the Redis test reaches it in a few requests. */
const STREAM_BUDGET = 20;

/**
 * The processes `npm run topology` starts (topology/src), as deploy/compose.yaml lays them out:
 * three nats-server nodes in one JetStream cluster (the stream at 3 replicas), Redis, two
 * gateways and Caddy serving HTTP/2 over TLS from its internal CA. Clients go through Caddy.
 */
describe("the deployed topology: 3 JetStream nodes, 2 gateways, Redis, Caddy (HTTP/2, TLS)", () => {
  let topology: Topology;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    topology = await startTopology({
      jwtSecret: TEST_JWT_SECRET,
      streamTokenSecret: TEST_STREAM_SECRET,
      // TOPOLOGY_KEEP=1 keeps the stores and each process's log for a look after a failure.
      keepDir: process.env.TOPOLOGY_KEEP === "1",
      gatewayEnv: {
        LOG_LEVEL: process.env.TOPOLOGY_LOG_LEVEL ?? "warn",
        RATE_LIMIT_MAX: "100000",
        RATE_LIMIT_STREAM_MAX: String(STREAM_BUDGET),
      },
    });
    nc = await connect({ servers: topology.nats.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    jsm = await jetstreamManager(nc);
  }, 90_000);

  afterAll(async () => {
    await nc?.close();
    await topology?.stop();
  }, 60_000);

  /**
   * Opens STREAMS resuming readers of tenant `tenant` through the proxy (one user each), waits
   * until all are attached, publishes a tenant broadcast every 10 ms through the proxy, runs
   * `disrupt`, publishes 100 more, stops, and waits until every reader has every event.
   */
  async function underLoad(tenant: string, disrupt: () => Promise<void>) {
    const client = new H2Client(topology.ipUrl, topology.caCertificate, SESSIONS);
    const publishing = new H2Client(topology.ipUrl, topology.caCertificate);
    const tokens = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => accessToken({ sub: `reader-${i}`, tenantId: tenant, expiresIn: 3600 })),
    );
    const readers = tokens.map((token, i) => new ResumingSseReader(client, i % SESSIONS, "/events/stream", token));
    try {
      for (const reader of readers) reader.open();
      await Promise.all(readers.map((r) => r.waitFor(() => r.connections.length > 0, 60_000, "connected")));
      const streamsPerGateway = await Promise.all(
        topology.gateways.map(
          async (gw) => ((await (await fetch(`${gw.url}/ready`)).json()) as { streams: number }).streams,
        ),
      );
      const admin = await accessToken({ sub: "publisher", tenantId: tenant, roles: ["admin"], expiresIn: 3600 });
      const publisher = new TickPublisher(publishing, admin, "tick");
      publisher.start();
      await publisher.more(100);
      await disrupt();
      await publisher.more(100);
      const outcomes = await publisher.stop();
      const total = outcomes.length;
      await Promise.all(
        readers.map((r) => r.waitFor(() => r.events.length >= total, 90_000, `${total} events`).catch(() => undefined)),
      );
      return { readers, outcomes, streamsPerGateway, retries: publisher.retries };
    } finally {
      for (const reader of readers) reader.close();
      client.close();
      publishing.close();
    }
  }

  it("rolling restart (SIGTERM, exit, start, /ready; gateway 1 then 2) under 500 streams and a publish every 10 ms: every stream gets every event exactly once, in order", {
    timeout: 180_000,
  }, async () => {
    const exits: unknown[] = [];
    const run = await underLoad("rolling", async () => {
      for (const gateway of topology.gateways) {
        await gateway.stop("SIGTERM");
        const exit = await gateway.process.exited;
        exits.push(exit.code === 0 ? exit : { ...exit, output: gateway.process.output.slice(-3000) });
        await gateway.start();
      }
    });
    // Both gateways held streams before the restart (the proxy balances them).
    expect(run.streamsPerGateway.every((count) => count > 0)).toBe(true);
    expect(run.streamsPerGateway.reduce((a, b) => a + b, 0)).toBe(STREAMS);
    expect(exits).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    const total = run.outcomes.length;
    // NATS stayed up: every publish was stored before it was answered, so its id is known.
    expect(run.outcomes.every((o) => o.status === "published" || o.status === "duplicate")).toBe(true);
    const stored = [...run.outcomes].sort((a, b) => seqOf(a.id as string) - seqOf(b.id as string));
    expect(new Set(stored.map((o) => o.id)).size).toBe(total);
    // Every stream: exactly the stored events, in stream order.
    expect(
      deliveryProblems(
        run.readers,
        stored.map((o) => o.n),
        stored.map((o) => o.id as string),
      ),
    ).toEqual({
      problems: { wrongCount: 0, notExactlyOnce: 0, outOfOrder: 0, idsNotIncreasing: 0, unexpectedIds: 0, resets: 0 },
      examples: [],
    });
    // Every stream was ended by a shutdown at least once and resumed from its last id.
    expect(run.readers.filter((r) => r.connections.length < 2)).toHaveLength(0);
    expect(run.readers.filter((r) => r.connections.slice(1).some((resumed) => !resumed))).toHaveLength(0);
    console.log(
      `rolling restart: ${total} events × ${STREAMS} streams, ${run.readers.reduce((n, r) => n + r.connections.length - 1, 0)} reconnects, publish retries ${JSON.stringify([...run.retries])}, refusals ${JSON.stringify(countRefusals(run.readers))}`,
    );
  });

  it("SIGKILL of the stream's leader node under the same load, then its restart: nothing lost, nothing duplicated, one order on every stream, /ready 200 on both gateways throughout", {
    timeout: 180_000,
  }, async () => {
    const streamLeader = async () => (await jsm.streams.info("EVENTS")).cluster?.leader ?? "";
    // The worst case, every time: the leader is a node a gateway is connected to, so that gateway
    // loses its NATS connection too. Leadership is moved there first (it moves at random).
    const withGateway: string[] = [];
    for (const node of topology.nats.nodes) {
      const connz = (await (await fetch(`http://127.0.0.1:${node.httpPort}/connz`)).json()) as {
        connections?: { name?: string }[];
      };
      if (connz.connections?.some((c) => c.name === "circl-bff")) withGateway.push(node.name);
    }
    expect(withGateway.length).toBeGreaterThan(0);
    let leader = await streamLeader();
    for (let moves = 0; !withGateway.includes(leader); moves++) {
      expect(moves).toBeLessThan(10);
      const before = leader;
      await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.EVENTS", undefined, { timeout: 5000 }).catch(() => undefined);
      await until(
        async () => {
          leader = await streamLeader();
          return leader !== "" && leader !== before;
        },
        15_000,
        "the stream leader to move",
      );
    }
    await topology.nats.waitHealthy();

    const readiness = watchReadiness(topology.gateways.map((gw) => gw.url));
    let newLeader = "";
    const run = await underLoad("node-loss", async () => {
      await topology.nats.kill(leader);
      // The two others elect a new leader for the stream.
      await until(
        async () => {
          newLeader = (await jsm.streams.info("EVENTS")).cluster?.leader ?? "";
          return newLeader !== "" && newLeader !== leader;
        },
        30_000,
        "a new stream leader",
      );
      await topology.nats.start(leader);
      await topology.nats.waitHealthy();
    });
    await readiness.stop();
    expect(newLeader).not.toBe(leader);
    // In stream order, which is the same on every stream: a publish queued during the election
    // (answered `queued`, sent when a leader answers) may be stored after a later one.
    const reference = run.readers[0]?.events.map((event) => event.id) ?? [];
    const expected = [...run.outcomes.map((o) => o.n)];
    const { problems, examples } = deliveryProblems(run.readers, expected, reference);
    // Publishes overlap (one every 10 ms, answers take longer): their order is the stream's, not n's.
    const { outOfOrder: _, ...rest } = problems;
    expect(rest, examples.join("\n")).toEqual({
      wrongCount: 0,
      notExactlyOnce: 0,
      idsNotIncreasing: 0,
      unexpectedIds: 0,
      resets: 0,
    });
    expect(readiness.failures).toEqual([]);
    expect(readiness.polls).toBeGreaterThan(20);
    const statuses = new Map<string, number>();
    for (const o of run.outcomes) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
    console.log(
      `node loss (${leader}, where gateways were connected to ${withGateway.join(" and ")}, → ${newLeader}): ${run.outcomes.length} events × ${STREAMS} streams, publish answers ${JSON.stringify([...statuses])}, retries ${JSON.stringify([...run.retries])}, /ready polls ${readiness.polls}`,
    );
  });

  it("Redis loss: the stream budget is shared while Redis runs, skipped (fail-open) while it is down with /ready 200 saying so, and shared again once it is back", {
    timeout: 60_000,
  }, async () => {
    const proxy = new H2Client(topology.ipUrl, topology.caCertificate);
    const [one, two] = topology.gateways.map((gw) => gw.url) as [string, string];
    // A stream attempt that is charged, then refused by the route (malformed topic): no stream stays open.
    const attempt = async (token: string, via: string | "proxy") => {
      const path = "/events/stream?topics=%20";
      if (via === "proxy") return (await proxy.request("GET", path, { authorization: `Bearer ${token}` })).status;
      return (await fetch(`${via}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
    };
    const store = async (url: string) => {
      const response = await fetch(`${url}/ready`);
      return `${response.status} ${((await response.json()) as { rateLimitStore?: string }).rateLimitStore}`;
    };
    /** STREAM_BUDGET attempts alternating between the two gateways, then one through the proxy. */
    const spend = async (token: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < STREAM_BUDGET; i++) statuses.push(await attempt(token, i % 2 === 0 ? one : two));
      statuses.push(await attempt(token, "proxy"));
      return statuses;
    };
    const overBudget = [...Array.from({ length: STREAM_BUDGET }, () => 400), 429];
    try {
      expect([await store(one), await store(two)]).toEqual(["200 ok", "200 ok"]);
      expect(await spend(await accessToken({ sub: "budget-1", tenantId: "redis" }))).toEqual(overBudget);

      await topology.redis.stop();
      for (const url of [one, two])
        await until(async () => (await store(url)) === "200 unavailable", 15_000, "unavailable");
      // Fail-open: every attempt is answered (by the route, fast), none is refused for the budget.
      const token = await accessToken({ sub: "budget-2", tenantId: "redis" });
      const statuses: number[] = [];
      let slowest = 0;
      for (let i = 0; i < 2 * STREAM_BUDGET; i++) {
        const started = performance.now();
        statuses.push(await attempt(token, i % 3 === 2 ? "proxy" : i % 2 ? one : two));
        slowest = Math.max(slowest, performance.now() - started);
      }
      expect(statuses).toEqual(Array.from({ length: 2 * STREAM_BUDGET }, () => 400));
      // No request waits on the missing store.
      expect(slowest).toBeLessThan(1000);
      // The API keeps working meanwhile: a publish through the proxy is stored.
      const admin = await accessToken({ sub: "admin", tenantId: "redis", roles: ["admin"] });
      const publish = await proxy.request(
        "POST",
        "/events/publish",
        { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        JSON.stringify({ type: "tick", data: 1, to: "tenant" }),
      );
      expect(publish.status).toBe(200);
      expect((JSON.parse(publish.body) as { status: string }).status).toBe("published");

      await topology.redis.start();
      for (const url of [one, two]) await until(async () => (await store(url)) === "200 ok", 15_000, "ok");
      expect(await spend(await accessToken({ sub: "budget-3", tenantId: "redis" }))).toEqual(overBudget);
    } finally {
      proxy.close();
      if (!topology.redis.process.running) await topology.redis.start();
    }
  });
});

function countRefusals(readers: ResumingSseReader[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const reader of readers) for (const refusal of reader.refusals) counts[refusal] = (counts[refusal] ?? 0) + 1;
  return counts;
}
