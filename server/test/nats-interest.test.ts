import { spawn } from "node:child_process";
import { once } from "node:events";
import { broadcastSubject, personalSubject, type StreamKey } from "@circl-bff/shared";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { liveSubjectFor } from "../src/bus/nats-stream-setup.js";
import type { Gateway } from "./helpers/gateway.js";
import { body, natsSuite } from "./helpers/nats-suite.js";

// A gateway connection whose unsent messages pass 2 MB is a slow consumer: the server drops it.
const suite = natsSuite({ maxPayload: 262_144, serverConfig: "max_pending: 2097152\n" });
const { available, gateway, stream } = suite;

async function metric(gw: Gateway, name: string): Promise<number> {
  const text = await gw.app.metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

/** Publishes `count` backend messages on `subject` (500 acks in flight at a time); returns their sequences. */
async function publishMany(subject: string, count: number, data: (i: number) => unknown): Promise<number[]> {
  const seqs: number[] = [];
  for (let start = 1; start <= count; start += 500) {
    const acks = [];
    for (let i = start; i < Math.min(start + 500, count + 1); i++) {
      acks.push(suite.nats.js.publish(subject, body({ type: "n", data: data(i) })));
    }
    for (const ack of await Promise.all(acks)) seqs.push(ack.seq);
  }
  return seqs;
}

describe.skipIf(!available)("interest-based live delivery", () => {
  it("an instance receives from NATS only the keys its streams follow: 10,000 events of tenant X reach A's streams, not B", {
    timeout: 60_000,
  }, async () => {
    const [a, b] = [await gateway(), await gateway()];
    const onA = [];
    for (let i = 0; i < 5; i++) onA.push(await stream(a, await a.token({ sub: `x-user-${i}`, tenantId: "X" })));
    const onB = [];
    for (let i = 0; i < 5; i++) onB.push(await stream(b, await b.token({ sub: `y-user-${i}`, tenantId: "Y" })));
    const receivedA = await metric(a, "nats_messages_received_total");
    const receivedB = await metric(b, "nats_messages_received_total");

    await publishMany(broadcastSubject("X"), 10_000, (i) => i);
    await suite.nats.js.publish(broadcastSubject("Y"), body({ type: "y", data: 1 }));

    for (const client of onA) await client.waitForData(10_000, 30_000);
    for (const client of onA) {
      expect(client.envelopes().map((e) => e.data)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    }
    for (const client of onB) await client.waitForData(1);
    for (const client of onB) expect(client.envelopes().map((e) => e.type)).toEqual(["y"]);
    // A took each of X's events once for its five streams; B none of them (its only one is Y's).
    expect((await metric(a, "nats_messages_received_total")) - receivedA).toBe(10_000);
    expect((await metric(b, "nats_messages_received_total")) - receivedB).toBe(1);
    // Personal keys of 5 users and the tenant key, on each.
    expect(await metric(a, "nats_subscriptions_active")).toBe(6);
    expect(await metric(b, "nats_subscriptions_active")).toBe(6);
  });

  it("a lost core message (the key's subscription dropped and restored) is read back from JetStream: every event once, in order", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);
    const subject = personalSubject("t1", "u1");
    await suite.nats.js.publish(subject, body({ type: "n", data: 1 }));
    await client.waitForData(1);

    // The gateway's own subscription for the key, taken away while three events are published:
    // NATS delivers them to nobody on this instance, as it would to a dropped subscription.
    const lost = dropLiveSubscription(gw, { tenant: "t1", user: "u1" });
    await lost.dropped;
    for (let i = 2; i <= 4; i++) await suite.nats.js.publish(subject, body({ type: "n", data: i }));
    await lost.restore();
    await suite.nats.js.publish(subject, body({ type: "n", data: 5 }));

    await client.waitForData(5);
    expect(client.envelopes().map((e) => e.data)).toEqual([1, 2, 3, 4, 5]);
    const seqs = client.envelopes().map((e) => Number(e.id.split("-")[1]));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(await metric(gw, "nats_gap_repairs_total")).toBe(1);
    expect(client.events.some((e) => e.event === "reset")).toBe(false);
  });

  it("a loss found only after a later event of another key went out is a reset at the stream's position, never a silent gap", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);
    const lost = dropLiveSubscription(gw, { tenant: "t1", user: "u1" });
    await lost.dropped;
    const missed = await suite.nats.js.publish(personalSubject("t1", "u1"), body({ type: "personal", data: 1 }));
    const broadcast = await suite.nats.js.publish(broadcastSubject("t1"), body({ type: "broadcast", data: 2 }));
    await client.waitForData(1);
    await lost.restore();
    const next = await suite.nats.js.publish(personalSubject("t1", "u1"), body({ type: "personal", data: 3 }));

    await client.waitForData(2);
    const epoch = gw.app.bus.epoch;
    expect(client.events.slice(1).map((e) => [e.event, e.id])).toEqual([
      ["broadcast", `${epoch}-${broadcast.seq}`],
      ["reset", `${epoch}-${broadcast.seq}`],
      ["personal", `${epoch}-${next.seq}`],
    ]);
    const reset = client.envelopes<{ data: { reason: string } }>()[1];
    expect(reset?.data.reason).toBe("out-of-order");
    expect(missed.seq).toBeLessThan(broadcast.seq);
    expect(await metric(gw, "nats_gap_repairs_total")).toBe(1);
  });

  it("a slow consumer cut off by the server reconnects and catches every stream up: every event once, in order", {
    timeout: 60_000,
  }, async () => {
    // The SSE client lives in this process too: its stream must outlast the pause.
    const gw = await gateway({ SSE_MAX_PENDING_BYTES: String(64 * 1024 * 1024) });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);
    const count = 4000;
    // Another process publishes while this one (the gateway's) does not read: 4,000 × 2 KB pile
    // up at the server (and the sockets' buffers) beyond its 2 MB `max_pending` for the gateway.
    const publisher = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `
        import { connect } from "@nats-io/transport-node";
        import { jetstream } from "@nats-io/jetstream";
        const nc = await connect({ servers: process.argv[1] });
        const js = jetstream(nc);
        process.stdout.write("ready\\n");
        await new Promise((resolve) => process.stdin.once("data", resolve));
        const pad = "x".repeat(2000);
        const acks = [];
        for (let i = 1; i <= ${count}; i++) acks.push(js.publish(process.argv[2], JSON.stringify({ type: "n", data: { i, pad } })));
        await Promise.all(acks);
        process.stdout.write("done\\n");
        await nc.close();
        `,
        suite.nats.server.url,
        personalSubject("t1", "u1"),
      ],
      { cwd: new URL("..", import.meta.url).pathname, stdio: ["pipe", "pipe", "inherit"] },
    );
    let output = "";
    publisher.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    while (!output.includes("ready")) await once(publisher.stdout, "data");
    publisher.stdin.write("go\n");
    // This process (the gateway) stops reading for 3 s.
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      // busy: the event loop does not run
    }
    while (!output.includes("done")) await once(publisher.stdout, "data");

    await client.waitForData(count, 30_000);
    expect(client.envelopes<{ id: string; data: { i: number } }>().map((e) => e.data.i)).toEqual(
      Array.from({ length: count }, (_, i) => i + 1),
    );
    expect(await metric(gw, "nats_reconnects_total")).toBeGreaterThanOrEqual(1);
    expect(await metric(gw, "nats_gap_repairs_total")).toBeGreaterThanOrEqual(1);
  });
});

type LiveInternals = {
  nc: NatsConnection;
  live: {
    feeds: Map<string, { subscription: Subscription }>;
    onMessage(message: Msg): void;
  };
};

/**
 * Unsubscribes the gateway's live subscription of `key` (as a lost subscription would be) and
 * puts an equivalent one back on `restore()`. Reaches into the bus: NATS gives a client no
 * other way to lose messages on a healthy connection.
 */
function dropLiveSubscription(gw: Gateway, key: StreamKey) {
  const bus = gw.app.bus as unknown as LiveInternals;
  const feed = bus.live.feeds.get(personalSubject(key.tenant, key.user as string));
  if (feed === undefined) throw new Error("no live subscription for the key");
  feed.subscription.unsubscribe();
  return {
    dropped: bus.nc.flush(),
    async restore() {
      feed.subscription = bus.nc.subscribe(liveSubjectFor("EVENTS", key), {
        callback: (error, message) => {
          if (error === null) bus.live.onMessage(message);
        },
      });
      await bus.nc.flush();
    },
  };
}
