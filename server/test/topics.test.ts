import { topicSubject } from "@circl-bff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { body, natsSuite } from "./helpers/nats-suite.js";
import { RecordingUpstream } from "./helpers/recording-upstream.js";
import { SseClient } from "./helpers/sse-client.js";

const fixture = gatewayFixture();
const { gateway, openStream } = fixture;

type Envelope = { id: string; type: string; data: unknown; tenantId: string; userId?: string; topic?: string };

function topicToken(gw: Gateway, sub: string, topics: unknown, extra: Record<string, unknown> = {}, tenantId = "t1") {
  return gw.token({ sub, tenantId, extra: { topics, ...extra } });
}

async function post(gw: Gateway, token: string, path: string, payload: unknown) {
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** `events.stream` over a raw SSE socket: tRPC's wire format, tracked items as `id:` frames. */
function trpcStream(gw: Gateway, token: string, input: unknown, lastEventId?: string) {
  const query = `?input=${encodeURIComponent(JSON.stringify(input))}`;
  return SseClient.open(`${gw.url}/trpc/events.stream${query}`, {
    authorization: `Bearer ${token}`,
    ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
  }).then((client) => fixture.track(client));
}

/** tRPC's message frames: untracked envelopes (no id) and tracked ones. */
function trpcEnvelopes(client: SseClient): Envelope[] {
  return client.events.filter((e) => e.event === "message").map((e) => JSON.parse(e.data) as Envelope);
}

describe("topic streams", () => {
  it("deliver a topic's events to the streams that asked for it, with `topic` and no `userId`, on both transports", async () => {
    const gw = await gateway();
    const alice = await topicToken(gw, "alice", ["order:*"]);
    const bob = await topicToken(gw, "bob", ["*"]);
    const raw = await openStream(gw, alice, { query: "?topics=order:42,order:43" });
    expect(raw.status).toBe(200);
    const viaTrpc = await trpcStream(gw, bob, { topics: ["order:42"] });
    const without = await openStream(gw, bob);
    await raw.waitForEvent("connected");
    await without.waitForEvent("connected");
    await viaTrpc.waitFor(() => trpcEnvelopes(viaTrpc).some((e) => e.type === "connected"));

    const sent = await post(gw, bob, "/events/publish", {
      type: "demo.message",
      data: { text: "42!" },
      to: { topic: "order:42" },
    });
    expect(sent).toMatchObject({ status: 200, body: { status: "published" } });
    await post(gw, bob, "/events/publish", { type: "demo.message", data: { text: "44" }, to: { topic: "order:44" } });
    await post(gw, bob, "/events/publish", { type: "demo.message", data: { text: "43" }, to: { topic: "order:43" } });
    await raw.waitForData(2);
    await viaTrpc.waitFor(() => trpcEnvelopes(viaTrpc).length >= 2);

    const first = raw.envelopes<Envelope>()[0] as Envelope;
    expect(first).toMatchObject({ id: sent.body.id, type: "demo.message", topic: "order:42", tenantId: "t1" });
    expect(first).not.toHaveProperty("userId");
    expect(raw.envelopes<Envelope>().map((e) => e.topic)).toEqual(["order:42", "order:43"]);
    expect(trpcEnvelopes(viaTrpc).map((e) => [e.type, e.topic ?? null])).toEqual([
      ["connected", null],
      ["demo.message", "order:42"],
    ]);
    // A stream that asked for no topic gets none of them.
    const marker = await gw.publish(bob, { type: "marker", to: "me" });
    await without.waitForData(1);
    expect(without.envelopes<Envelope>().map((e) => e.id)).toEqual([marker.id]);
  });

  it("grants by pattern: `*`, prefix patterns and exact topics; refuses others with 403 on both transports", async () => {
    const gw = await gateway();
    const prefixed = await topicToken(gw, "u1", ["order:*", "doc.7"]);
    const all = await topicToken(gw, "u2", ["*"]);
    const none = await topicToken(gw, "u3", undefined);
    const junk = await topicToken(gw, "u4", "order:*");

    expect((await openStream(gw, prefixed, { query: "?topics=order:1,doc.7" })).status).toBe(200);
    expect((await openStream(gw, all, { query: "?topics=anything,else:1" })).status).toBe(200);
    for (const [token, topic] of [
      [prefixed, "doc.70"],
      [prefixed, "orders:1"],
      [none, "order:1"],
      [junk, "order:1"],
    ] as const) {
      const refused = await openStream(gw, token, { query: `?topics=${topic}` });
      expect(refused.status, topic).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 403, message: `topic not allowed: ${topic}` });
      const viaTrpc = await trpcStream(gw, token, { topics: [topic] });
      await viaTrpc.waitFor(() => viaTrpc.events.some((e) => e.event === "serialized-error"));
      const error = JSON.parse(viaTrpc.events.find((e) => e.event === "serialized-error")?.data ?? "{}");
      expect(error).toMatchObject({ message: `topic not allowed: ${topic}`, data: { code: "FORBIDDEN" } });
    }
  });

  it("refuses malformed topics (`*`, `>`, spaces, too long) and more than MAX_TOPICS_PER_STREAM with 400", async () => {
    const gw = await gateway({ MAX_TOPICS_PER_STREAM: "2" });
    const token = await topicToken(gw, "u1", ["*"]);
    for (const query of [
      "?topics=order:*",
      "?topics=a.>",
      "?topics=a%20b",
      `?topics=${"x".repeat(129)}`,
      "?topics=a,b,c",
    ]) {
      const refused = await openStream(gw, token, { query });
      expect(refused.status, query).toBe(400);
    }
    const tooMany = await trpcStream(gw, token, { topics: ["a", "b", "c"] });
    await tooMany.waitFor(() => tooMany.events.some((e) => e.event === "serialized-error"));
    expect(tooMany.events.find((e) => e.event === "serialized-error")?.data).toContain("BAD_REQUEST");
    expect((await openStream(gw, token, { query: "?topics=a,b" })).status).toBe(200);
  });

  it("carries the access token's grants into the stream token", async () => {
    const gw = await gateway();
    const access = await topicToken(gw, "u1", ["room:*"]);
    const { token } = (await post(gw, access, "/events/token", {})).body as { token: string };
    const granted = fixture.track(await SseClient.open(`${gw.url}/events/stream?token=${token}&topics=room:1`));
    expect(granted.status).toBe(200);
    const refused = fixture.track(await SseClient.open(`${gw.url}/events/stream?token=${token}&topics=other`));
    expect(refused.status).toBe(403);
  });

  it("lets a granted user or an admin publish to a topic, and refuses others with 403 / FORBIDDEN", async () => {
    const gw = await gateway();
    const granted = await topicToken(gw, "u1", ["room:*"]);
    const plain = await topicToken(gw, "u2", []);
    const admin = await gw.token({ sub: "boss", roles: ["admin"] });
    const target = { topic: "room:1" };
    expect((await post(gw, granted, "/events/publish", { type: "x", data: 1, to: target })).status).toBe(200);
    expect((await post(gw, admin, "/events/publish", { type: "x", data: 1, to: target })).status).toBe(200);
    const refused = await post(gw, plain, "/events/publish", { type: "x", data: 1, to: target });
    expect(refused).toMatchObject({ status: 403, body: { message: "topic not allowed: room:1" } });
    const viaTrpc = await post(gw, plain, "/trpc/events.publish", { type: "x", data: 1, to: target });
    expect(viaTrpc.status).toBe(403);
    expect(viaTrpc.body).toMatchObject({ error: { data: { code: "FORBIDDEN" } } });
    const malformed = await post(gw, admin, "/events/publish", { type: "x", data: 1, to: { topic: "a b" } });
    expect(malformed.status).toBe(400);
  });

  it("resumes personal, tenant and three topics' events from one id, exactly once and in order, on both transports", async () => {
    const gw = await gateway();
    const token = await topicToken(gw, "u1", ["*"], { roles: ["admin"] });
    const topics = ["a", "b.c", "d:e"];
    const raw = await openStream(gw, token, { query: `?topics=${topics.join(",")}` });
    await raw.waitForEvent("connected");
    const targets = [
      "me",
      "tenant",
      { topic: "a" },
      { topic: "b.c" },
      { topic: "d:e" },
      { topic: "unfollowed" },
    ] as const;
    const before = await gw.publish(token, { type: "n", data: 0, to: "me" });
    await raw.waitForData(1);
    raw.close();

    const published: { id: string; data: number }[] = [];
    for (let i = 1; i <= 24; i++) {
      const to = targets[i % targets.length] as (typeof targets)[number];
      const { id } = await gw.publish(token, { type: "n", data: i, to: to as never });
      if (typeof to !== "object" || to.topic !== "unfollowed") published.push({ id: id as string, data: i });
    }
    const resumedRaw = await openStream(gw, token, { query: `?topics=${topics.join(",")}`, lastEventId: before.id });
    const resumedTrpc = await trpcStream(gw, token, { topics, lastEventId: before.id });
    await resumedRaw.waitForData(published.length);
    await resumedTrpc.waitFor(() => trpcEnvelopes(resumedTrpc).length >= published.length + 1);
    expect(JSON.parse(resumedRaw.events.find((e) => e.event === "connected")?.data ?? "{}").resumed).toBe(true);
    expect(resumedRaw.envelopes<Envelope>().map((e) => ({ id: e.id, data: e.data }))).toEqual(published);
    const tracked = resumedTrpc.events.filter((e) => e.event === "message" && e.id !== undefined);
    expect(tracked.map((e) => e.id)).toEqual(published.map((p) => p.id));
    expect(trpcEnvelopes(resumedTrpc)[0]).toMatchObject({ type: "connected", data: { resumed: true } });
    // Then live, still exactly once.
    const live = await gw.publish(token, { type: "n", data: 99, to: { topic: "b.c" } });
    await resumedRaw.waitForData(published.length + 1);
    expect(resumedRaw.envelopes<Envelope>().at(-1)?.id).toBe(live.id);
    expect(resumedRaw.dataEvents()).toHaveLength(published.length + 1);
  });

  it("sends a reset when a topic's position is no longer retained", async () => {
    const gw = await gateway({ REPLAY_BUFFER_SIZE: "5" });
    const token = await topicToken(gw, "u1", ["*"]);
    const first = await gw.publish(token, { type: "n", data: 0, to: "me" });
    for (let i = 1; i <= 10; i++) await gw.publish(token, { type: "n", data: i, to: { topic: "busy" } });
    const stream = await openStream(gw, token, { query: "?topics=busy", lastEventId: first.id });
    await stream.waitForEvent("reset");
    const reset = stream.envelopes<Envelope>().find((e) => e.type === "reset");
    expect(reset?.data).toMatchObject({ reason: "position-expired", lastEventId: first.id });
    expect(JSON.parse(stream.events.find((e) => e.event === "connected")?.data ?? "{}").resumed).toBe(false);
  });

  it("never shows one tenant's topic events to another tenant with the same topic name", async () => {
    const gw = await gateway();
    const topicArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/);
    const tenantArb = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/\p{Cs}/u.test(s));
    await fc.assert(
      fc.asyncProperty(topicArb, tenantArb, tenantArb, async (topic, tenantA, tenantB) => {
        fc.pre(tenantA !== tenantB);
        const a = await topicToken(gw, "ua", ["*"], {}, tenantA);
        const b = await topicToken(gw, "ub", ["*"], {}, tenantB);
        const streamB = await openStream(gw, b, { query: `?topics=${encodeURIComponent(topic)}` });
        expect(streamB.status).toBe(200);
        await streamB.waitForEvent("connected");
        await gw.publish(a, { type: "secret", data: tenantA, to: { topic } });
        const mine = await gw.publish(b, { type: "mine", data: tenantB, to: { topic } });
        await streamB.waitForData(1);
        expect(streamB.envelopes<Envelope>().map((e) => [e.id, e.tenantId])).toEqual([[mine.id, tenantB]]);
        streamB.close();
      }),
      { numRuns: 25 },
    );
  });

  it("ends a topic stream when its token is revoked, and refuses it on reconnect", async () => {
    const gw = await gateway();
    const token = await topicToken(gw, "u1", ["room:*"]);
    const stream = await openStream(gw, token, { query: "?topics=room:1" });
    await stream.waitForEvent("connected");
    expect((await post(gw, token, "/trpc/auth.revoke", {})).status).toBe(200);
    await stream.waitForEnd();
    expect((await openStream(gw, token, { query: "?topics=room:1" })).status).toBe(401);
  });
});

describe("TOPIC_AUTH_URL", () => {
  it("asks the hook about ungranted topics with the caller's headers, caches its answers, and refuses what it does not allow", async () => {
    const hook = await RecordingUpstream.start((_req, res, recorded) => {
      const { topics } = JSON.parse(recorded.body.toString()) as { topics: string[] };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ allowed: topics.filter((t) => t.startsWith("ok")) }));
    });
    fixture.track({ close: () => void hook.close() } as SseClient);
    let clock = Date.now();
    const gw = await gateway({ TOPIC_AUTH_URL: `${hook.url}/topics`, TOPIC_AUTH_CACHE_S: "60" }, { now: () => clock });
    const token = await topicToken(gw, "u1", ["mine:*"]);

    const granted = await openStream(gw, token, {
      query: "?topics=mine:1,ok-1,ok-2",
      headers: { "x-request-id": "req-1" },
    });
    expect(granted.status).toBe(200);
    expect(hook.requests).toHaveLength(1);
    const asked = hook.requests[0];
    expect(asked?.method).toBe("POST");
    expect(asked?.url).toBe("/topics");
    expect(JSON.parse(asked?.body.toString() ?? "")).toEqual({ topics: ["ok-1", "ok-2"] });
    expect(asked?.headers).toMatchObject({
      authorization: `Bearer ${token}`,
      "x-tenant-id": "t1",
      "x-user-id": "u1",
      "x-request-id": "req-1",
    });

    const refused = await openStream(gw, token, { query: "?topics=ok-1,nope" });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).message).toBe("topic not allowed: nope");
    expect(hook.requests).toHaveLength(2);
    expect(JSON.parse(hook.requests[1]?.body.toString() ?? "")).toEqual({ topics: ["nope"] });
    // Cached: neither answer is asked again within TOPIC_AUTH_CACHE_S.
    expect((await openStream(gw, token, { query: "?topics=ok-1" })).status).toBe(200);
    expect((await openStream(gw, token, { query: "?topics=nope" })).status).toBe(403);
    expect(hook.requests).toHaveLength(2);
    // Expired: asked again.
    clock += 61_000;
    expect((await openStream(gw, token, { query: "?topics=ok-1" })).status).toBe(200);
    expect(hook.requests).toHaveLength(3);
  });

  it("answers 503 with Retry-After, never a grant, when the hook fails or times out", async () => {
    let mode: "error" | "hang" | "garbage" = "error";
    const hook = await RecordingUpstream.start((_req, res) => {
      if (mode === "error") res.writeHead(500).end("boom");
      else if (mode === "garbage") res.writeHead(200, { "content-type": "application/json" }).end('{"allowed": "all"}');
      // "hang": never answers.
    });
    const gw = await gateway({ TOPIC_AUTH_URL: hook.url, UPSTREAM_TIMEOUT_MS: "300" });
    fixture.track({ close: () => void hook.close() } as SseClient);
    const token = await topicToken(gw, "u1", []);
    for (const next of ["error", "hang", "garbage"] as const) {
      mode = next;
      const refused = await openStream(gw, token, { query: "?topics=room:1" });
      expect(refused.status, next).toBe(503);
      expect(refused.res.headers["retry-after"]).toBe("5");
      expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 503 });
      const publish = await post(gw, token, "/events/publish", { type: "x", data: 1, to: { topic: "room:1" } });
      expect(publish.status, next).toBe(503);
      expect(publish.headers.get("retry-after")).toBe("5");
    }
  });
});

const nats = natsSuite();

describe.skipIf(!nats.available)("topic streams on NATS", () => {
  it("deliver backends' topic messages, and resume personal, tenant and topic events on another instance", async () => {
    const a = await nats.gateway();
    const b = await nats.gateway();
    const token = await a.token({ sub: "u1", tenantId: "t1", roles: ["admin"], extra: { topics: ["*"] } });
    const query = "?topics=order:1,doc.7,chat:x";
    const onA = fixture.track(
      await SseClient.open(`${a.url}/events/stream${query}`, { authorization: `Bearer ${token}` }),
    );
    await onA.waitForEvent("connected");
    const first = await a.publish(token, { type: "n", data: 0, to: { topic: "order:1" } });
    await onA.waitForData(1);
    onA.close();

    const published: (string | undefined)[] = [];
    const targets = ["me", "tenant", { topic: "order:1" }, { topic: "doc.7" }, { topic: "chat:x" }, { topic: "other" }];
    for (let i = 1; i <= 15; i++) {
      const to = targets[i % targets.length] as "me";
      const { id } = await (i % 2 === 0 ? a : b).publish(token, { type: "n", data: i, to });
      if (typeof to !== "object" || (to as { topic: string }).topic !== "other") published.push(id);
    }
    // A backend publishes straight to a topic's subject.
    const ack = await nats.nats.js.publish(
      topicSubject("t1", "doc.7"),
      body({ type: "demo.message", data: { text: "from backend" } }),
    );
    const onB = fixture.track(
      await SseClient.open(`${b.url}/events/stream${query}`, {
        authorization: `Bearer ${token}`,
        "last-event-id": first.id as string,
      }),
    );
    await onB.waitForData(published.length + 1, 10_000);
    expect(JSON.parse(onB.events.find((e) => e.event === "connected")?.data ?? "{}").resumed).toBe(true);
    const ids = onB.envelopes<Envelope>().map((e) => e.id);
    expect(ids.slice(0, published.length)).toEqual(published);
    expect(onB.envelopes<Envelope>().at(-1)).toMatchObject({
      type: "demo.message",
      topic: "doc.7",
      data: { text: "from backend" },
    });
    expect(Number(ids.at(-1)?.split("-").at(-1))).toBe(ack.seq);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
