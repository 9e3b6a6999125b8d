import { broadcastSubject, personalSubject } from "@circl-bff/shared";
import { describe, expect, it } from "vitest";
import { type BusEvent, isGap } from "../src/bus/event-bus.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { checkAwkwardIdIsolation } from "./helpers/isolation.js";
import { trackHandles } from "./helpers/leak-check.js";
import { body, deleteStream, natsSuite } from "./helpers/nats-suite.js";
import { SseClient } from "./helpers/sse-client.js";

const suite = natsSuite();
const { available, gateway, stream } = suite;

async function metric(gw: Gateway, pattern: RegExp): Promise<number> {
  const text = await gw.app.metrics.registry.metrics();
  const line = text.split("\n").find((l) => pattern.test(l));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe.skipIf(!available)("NATS bus: stream setup", () => {
  it("creates the stream over events.> with file storage, a 2 min duplicate window and the configured limits", async () => {
    const gw = await gateway({ NATS_STREAM_MAX_AGE: "2h", NATS_STREAM_MAX_BYTES: "10485760" });
    const info = await suite.nats.jsm.streams.info("EVENTS");
    expect(info.config).toMatchObject({
      subjects: ["events.>"],
      storage: "file",
      retention: "limits",
      discard: "old",
      duplicate_window: 120_000_000_000,
      max_age: 2 * 3600 * 1_000_000_000,
      max_bytes: 10_485_760,
      republish: { src: "events.>", dest: "circl-bff.live.EVENTS.>" },
    });
    expect(gw.app.bus.epoch).toMatch(/^[a-z0-9]{1,32}$/);
    const ready = await fetch(`${gw.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", bus: "nats" });
  });

  it("refuses to start on an existing stream it cannot use, naming the problem", async () => {
    await suite.nats.jsm.streams.add({ name: "EVENTS", subjects: ["events.>"], storage: "memory" as never });
    await expect(gateway()).rejects.toThrow(/storage is memory, expected file/);
    await deleteStream(suite.nats.jsm);
    await suite.nats.jsm.streams.add({ name: "EVENTS", subjects: ["events.>"], max_age: 3600 * 1_000_000_000 });
    await expect(gateway()).rejects.toThrow(/max_age is 3600000 ms, NATS_STREAM_MAX_AGE says 86400000 ms/);
    // A stream of an earlier version (no RePublish, which nats-server 2.9 cannot add): the exact fix.
    await deleteStream(suite.nats.jsm);
    await suite.nats.jsm.streams.add({
      name: "EVENTS",
      subjects: ["events.>"],
      duplicate_window: 120_000_000_000,
      max_age: 86_400 * 1_000_000_000,
      max_bytes: 1_073_741_824,
    });
    const refused = gateway();
    await expect(refused).rejects.toThrow(/does not re-publish events\.> to circl-bff\.live\.EVENTS\.>/);
    await expect(refused).rejects.toThrow(/nats stream rm EVENTS/);
    await expect(refused).rejects.toThrow(
      /nats stream edit EVENTS --republish-source 'events\.>' --republish-destination 'circl-bff\.live\.EVENTS\.>'/,
    );
  });

  it("adopts an existing compatible stream and keeps its epoch across gateway restarts", async () => {
    const first = await gateway();
    const epoch = first.app.bus.epoch;
    await first.close();
    const second = await gateway();
    expect(second.app.bus.epoch).toBe(epoch);
  });
});

describe.skipIf(!available)("NATS bus: publishing", () => {
  it("publishes the same idempotencyKey once across two instances, answering duplicate with the original id", async () => {
    const [a, b] = [await gateway(), await gateway()];
    const token = await a.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(b, token);
    const first = await a.publish(token, { type: "order.created", data: { n: 1 }, to: "me", idempotencyKey: "k-1" });
    const again = await b.publish(token, { type: "order.created", data: { n: 1 }, to: "me", idempotencyKey: "k-1" });
    const other = await b.publish(token, { type: "order.created", data: { n: 2 }, to: "me", idempotencyKey: "k-2" });
    expect(first.status).toBe("published");
    expect(again).toMatchObject({ status: "duplicate", id: first.id });
    expect(other.status).toBe("published");
    await client.waitForData(2);
    expect(client.envelopes().map((e) => [e.id, e.data])).toEqual([
      [first.id, { n: 1 }],
      [other.id, { n: 2 }],
    ]);
    const state = (await suite.nats.jsm.streams.info("EVENTS")).state;
    expect(state.messages).toBe(2);
  });

  it("lists no dead letters to an admin and refuses the procedures to other roles", async () => {
    const gw = await gateway();
    const admin = await gw.token({ sub: "a", tenantId: "t1", roles: ["admin"] });
    const user = await gw.token({ sub: "u", tenantId: "t1" });
    const list = (token: string) =>
      fetch(`${gw.url}/trpc/admin.deadLetters.list`, { headers: { authorization: `Bearer ${token}` } });
    const ok = await list(admin);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { result: { data: unknown } }).result.data).toEqual([]);
    expect((await list(user)).status).toBe(403);
    const drop = await fetch(`${gw.url}/trpc/admin.deadLetters.drop`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ id: "nope" }),
    });
    expect(drop.status).toBe(404);
  });
});

describe.skipIf(!available)("NATS bus: backend messages", () => {
  it("counts and skips garbage, a 10 MB body and a reserved type, never receives malformed subjects; the next valid message is delivered", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);
    const subject = personalSubject("t1", "u1");
    await suite.nats.js.publish(subject, body("not json {"));
    await suite.nats.js.publish(subject, new Uint8Array(10 * 1024 * 1024).fill(0x20));
    await suite.nats.js.publish(subject, body({ type: "reset", data: {} }));
    await suite.nats.js.publish("events.t1.user", body({ type: "x", data: 1 }));
    await suite.nats.js.publish("events.t_zz.broadcast", body({ type: "x", data: 1 }));
    const valid = await suite.nats.js.publish(
      subject,
      body({ type: "after.garbage", data: { ok: true }, correlationId: "c-1" }),
    );
    await client.waitForData(1);
    expect(client.envelopes()).toEqual([
      {
        id: `${gw.app.bus.epoch}-${valid.seq}`,
        type: "after.garbage",
        data: { ok: true },
        tenantId: "t1",
        userId: "u1",
        correlationId: "c-1",
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ]);
    expect(await metric(gw, /^nats_messages_invalid_total\{reason="json"\}/)).toBe(1);
    expect(await metric(gw, /^nats_messages_invalid_total\{reason="size"\}/)).toBe(1);
    expect(await metric(gw, /^nats_messages_invalid_total\{reason="schema"\}/)).toBe(1);
    // No instance subscribes to a subject that is no stream key's: those never reach a gateway.
    expect(await metric(gw, /^nats_messages_invalid_total\{reason="subject"\}/)).toBe(0);
    expect(await metric(gw, /^nats_messages_received_total /)).toBe(4);
    // A resume from before the garbage reads it again from JetStream and skips it again.
    const resumed = await stream(gw, token, { "last-event-id": `${gw.app.bus.epoch}-0` });
    await resumed.waitForData(1);
    expect(resumed.envelopes().map((e) => e.type)).toEqual(["after.garbage"]);
  });
});

describe.skipIf(!available)("NATS bus: resume from JetStream", () => {
  it("returns all 5,000 events after a position far beyond the replay buffer, in order, and only the stream's own", async () => {
    const gw = await gateway({ REPLAY_BUFFER_SIZE: "100" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const mine = personalSubject("t1", "u1");
    const first = await suite.nats.js.publish(mine, body({ type: "start", data: 0 }));
    const expected: number[] = [];
    const acks = [];
    for (let i = 1; i <= 5200; i++) {
      // Every 26th message goes to another user or another tenant: the read must filter them out.
      const subject =
        i % 26 === 0
          ? i % 52 === 0
            ? personalSubject("t2", "u1")
            : personalSubject("t1", "u2")
          : i % 13 === 0
            ? broadcastSubject("t1")
            : mine;
      acks.push(suite.nats.js.publish(subject, body({ type: "n", data: i })));
      if (i % 26 !== 0) expected.push(i);
    }
    await Promise.all(acks);
    expect(expected).toHaveLength(5000);
    const client = await stream(gw, token, { "last-event-id": `${gw.app.bus.epoch}-${first.seq}` });
    await client.waitForData(5000, 20_000);
    const received = client.envelopes<{ id: string; data: number }>();
    expect(received.map((e) => e.data)).toEqual(expected);
    const seqs = received.map((e) => Number(e.id.split("-")[1]));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(await metric(gw, /^replay_events_total\{source="jetstream"\}/)).toBe(5000);
    expect(JSON.parse(client.events.find((e) => e.event === "connected")?.data ?? "{}").resumed).toBe(true);
  });

  it("hands reads of the same positions the same decoded events (a reconnect storm decodes each once)", async () => {
    const gw = await gateway({ REPLAY_BUFFER_SIZE: "10" });
    const subject = broadcastSubject("t1");
    const first = await suite.nats.js.publish(subject, body({ type: "start", data: 0 }));
    const acks = [];
    for (let i = 1; i <= 300; i++) {
      acks.push(suite.nats.js.publish(i % 3 === 0 ? broadcastSubject("t2") : subject, body({ type: "n", data: i })));
    }
    const last = (await Promise.all(acks)).at(-1)?.seq as number;
    const read = async (tenant: string) => {
      const history = await gw.app.bus.readAfter([{ tenant }], first.seq, last);
      if (isGap(history)) throw new Error(history.gap);
      const events: BusEvent[] = [];
      for await (const event of history) events.push(event);
      return events;
    };
    const [a, b] = await Promise.all([read("t1"), read("t1")]);
    const expected = Array.from({ length: 300 }, (_, i) => i + 1).filter((i) => i % 3 !== 0);
    expect(a.map((e) => e.data)).toEqual(expected);
    expect(a.every((e) => e.key.tenant === "t1" && e.type === "n")).toBe(true);
    expect(b).toHaveLength(expected.length);
    for (const [i, event] of b.entries()) expect(event).toBe(a[i]);
    // Later, and another tenant reading the same range: its own events only, none of t1's.
    const again = await read("t1");
    for (const [i, event] of again.entries()) expect(event).toBe(a[i]);
    const other = await read("t2");
    expect(other.map((e) => e.data)).toEqual(Array.from({ length: 100 }, (_, i) => 3 * (i + 1)));
    expect(other.every((e) => e.key.tenant === "t2")).toBe(true);
  });

  it("answers reset when the position is older than the stream's first sequence", async () => {
    const gw = await gateway({ REPLAY_BUFFER_SIZE: "2" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const seqs = [];
    for (let i = 0; i < 5; i++) seqs.push((await gw.publish(token, { type: "n", data: i, to: "me" })).id as string);
    await suite.nats.jsm.streams.purge("EVENTS", { keep: 2 });
    const client = await stream(gw, token, { "last-event-id": seqs[0] as string });
    await client.waitForEvent("reset");
    expect(JSON.parse(client.events.find((e) => e.event === "reset")?.data ?? "{}").data).toEqual({
      reason: "position-expired",
      lastEventId: seqs[0],
    });
    // From the first retained position on, the resume is served.
    const ok = await stream(gw, token, { "last-event-id": seqs[2] as string });
    await ok.waitForData(2);
    expect(ok.envelopes().map((e) => e.id)).toEqual([seqs[3], seqs[4]]);
  });
});

describe.skipIf(!available)("NATS bus: tenant isolation across instances", () => {
  it("each stream gets exactly its own personal events and its tenant's broadcasts, whichever instance published", async () => {
    await checkAwkwardIdIsolation([await gateway(), await gateway()], stream, 3);
  });
});

describe.skipIf(!available)("NATS bus: cost and lifecycle", () => {
  it("keeps no JetStream consumer and one core subscription per stream key with 1,000 open streams, and delivers to each", async () => {
    const gw = await gateway();
    const clients = [];
    for (let i = 0; i < 1000; i++) {
      const token = await gw.token({ sub: `user-${i}`, tenantId: `tenant-${i % 10}` });
      clients.push({ token, stream: await stream(gw, token) });
    }
    const consumers = [];
    for await (const consumer of suite.nats.jsm.consumers.list("EVENTS")) consumers.push(consumer);
    expect(consumers).toHaveLength(0);
    // 1,000 personal keys and 10 tenant keys.
    expect(await metric(gw, /^nats_subscriptions_active /)).toBe(1010);
    for (let t = 0; t < 10; t++)
      await suite.nats.js.publish(broadcastSubject(`tenant-${t}`), body({ type: "hello", data: t }));
    for (const [i, client] of clients.entries()) {
      await client.stream.waitForData(1);
      expect(client.stream.envelopes().map((e) => e.data)).toEqual([i % 10]);
    }
    expect(gw.app.hub.channelCount).toBe(1010);
  });

  it("app.close() drains the NATS connection and leaves no handle behind", async () => {
    const handles = trackHandles();
    const gw = await startGateway({ NATS_URL: suite.nats.server.url });
    const token = await gw.token();
    const client = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
    await client.waitForEvent("connected");
    await gw.publish(token, { type: "x", to: "me" });
    await client.waitForData(1);
    await gw.close();
    await client.waitForEnd(3000);
    await expect.poll(() => handles.open(), { timeout: 5000 }).toEqual([]);
    handles.stop();
  });
});

describe.skipIf(!available)("NATS bus: an instance behind another", () => {
  it("resumes a position this instance has not delivered yet instead of answering reset, without repeating events", async () => {
    const [a, b] = [await gateway(), await gateway()];
    const token = await a.token({ sub: "u1", tenantId: "t1" });
    // A burst straight into the stream (another user's, then five of this user's) that B, following
    // no key yet, has not seen.
    const acks = [];
    for (let i = 1; i <= 20_000; i++)
      acks.push(suite.nats.js.publish(personalSubject("t1", "u2"), body({ type: "burst", data: i })));
    for (let i = 1; i <= 5; i++)
      acks.push(suite.nats.js.publish(personalSubject("t1", "u1"), body({ type: "mine", data: i })));
    const last = (await Promise.all(acks)).at(-1)?.seq as number;
    const lagging = b.app.bus.head() < last;
    const client = await stream(b, token, { "last-event-id": `${b.app.bus.epoch}-${last}` });
    expect(lagging).toBe(true);
    expect(JSON.parse(client.events[0]?.data ?? "{}").resumed).toBe(true);
    const next = await a.publish(token, { type: "after", to: "me" });
    await client.waitForData(1);
    expect(client.dataEvents().map((e) => [e.id, e.event])).toEqual([[next.id, "after"]]);
  });

  it("still answers reset for a sequence the stream never assigned", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    await gw.publish(token, { type: "one", to: "me" });
    const client = await stream(gw, token, { "last-event-id": `${gw.app.bus.epoch}-99` });
    await client.waitForEvent("reset");
    expect(JSON.parse(client.events.find((e) => e.event === "reset")?.data ?? "{}").data.reason).toBe("unknown-id");
  });
});

describe.skipIf(!available)("NATS bus: revocation across instances", () => {
  it("auth.revoke on one instance closes the user's streams on the other at once; reconnecting gets 401", async () => {
    const [a, b] = [await gateway(), await gateway()];
    const victim = await a.token({ sub: "mallory", tenantId: "t1" });
    const admin = await a.token({ sub: "root", tenantId: "t1", roles: ["admin"] });
    const onB = await stream(b, victim);
    const onA = await stream(a, victim);
    const bystander = await stream(b, await a.token({ sub: "alice", tenantId: "t1" }));

    const res = await fetch(`${a.url}/trpc/auth.revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: "mallory" }),
    });
    expect(res.status).toBe(200);
    await onB.waitForEnd(3000);
    await onA.waitForEnd(3000);
    expect(bystander.ended).toBe(false);
    const again = await SseClient.open(`${b.url}/events/stream`, { authorization: `Bearer ${victim}` });
    expect(again.status).toBe(401);
  });

  it("skips malformed control messages without affecting anything", async () => {
    const gw = await gateway();
    const client = await stream(gw, await gw.token({ sub: "u1", tenantId: "t1" }));
    suite.nats.nc.publish("circl-bff.control.EVENTS", body("not json"));
    suite.nats.nc.publish("circl-bff.control.EVENTS", body({ kind: "revoke", tenantId: "t1" }));
    await suite.nats.nc.flush();
    await gw.app.bus.publish({ tenant: "t1", user: "u1" }, { type: "after", data: 1 });
    await client.waitForData(1);
    expect(client.ended).toBe(false);
  });
});
