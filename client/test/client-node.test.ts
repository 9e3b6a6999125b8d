import type { CatalogEnvelope, ConnectedEventData, EventEnvelope, ResetEventData } from "@circl-bff/shared";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "../../server/test/helpers/gateway.js";
import { createBffClient, envelopeOf } from "../src/create-client.js";
import { onEvents } from "../src/on-events.js";
import { fetchStreamToken, openEventStream } from "../src/open-event-stream.js";
import { TabStream } from "../src/tab-stream.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gateway(env: Record<string, string> = {}): Promise<Gateway> {
  const gw = await startGateway(env);
  cleanups.push(() => gw.close());
  return gw;
}

/** A `fetch` that counts `auth.streamToken` calls. */
function countingFetch() {
  const counter = { tokens: 0 };
  const wrapped: typeof fetch = (input, init) => {
    if (String(input).includes("auth.streamToken")) counter.tokens++;
    return fetch(input, init);
  };
  return { fetch: wrapped, counter };
}

describe("createBffClient in Node (eventsource package, no global EventSource)", () => {
  it("publishes and streams typed envelopes, resuming across server-side ends and token expiry", async () => {
    const gw = await gateway({ STREAM_TOKEN_TTL_S: "5", SSE_MAX_CONNECTION_MS: "2000", SSE_HEARTBEAT_MS: "500" });
    const { fetch, counter } = countingFetch();
    const accessToken = await gw.token({ sub: "u1", tenantId: "t1", roles: ["admin"] });
    const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken, fetch });
    expect(typeof globalThis.EventSource).toBe("undefined");

    const received: { id: string; n: unknown }[] = [];
    const connected: unknown[] = [];
    const sub = client.events.stream.subscribe(undefined, {
      onData: (item) => {
        // Each connection first yields its untracked `connected` envelope: not an event, no position.
        if ("type" in item) {
          expect(item).toMatchObject({ id: "", type: "connected", tenantId: "t1", userId: "u1" });
          connected.push(item.data);
          return;
        }
        expect(item.data.id).toBe(item.id);
        received.push({ id: item.id, n: item.data.data });
      },
    });
    cleanups.push(() => sub.unsubscribe());
    await expect.poll(() => gw.app.hub.connectionCount).toBe(1);

    // Publish one event every 250 ms for 7 s: across 3 max-duration ends and one token expiry.
    const published: { id: string; n: unknown }[] = [];
    for (let n = 1; n <= 28; n++) {
      const result = await client.events.publish.mutate({ type: "tick", data: n, to: n % 2 ? "me" : "tenant" });
      published.push({ id: result.id as string, n });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(28);
    expect(received).toEqual(published);
    expect(counter.tokens).toBeGreaterThanOrEqual(2);
    // One `connected` per connection: the first fresh, every reconnect resumed from the last id.
    expect(connected.length).toBeGreaterThanOrEqual(4);
    expect(connected[0]).toMatchObject({ resumed: false });
    expect(connected.slice(1).every((info) => (info as ConnectedEventData).resumed)).toBe(true);
  });

  it("surfaces reset envelopes through onReset", async () => {
    const gw = await gateway();
    const accessToken = await gw.token();
    const resets: ResetEventData[] = [];
    const client = createBffClient({
      url: gw.url,
      getAccessToken: async () => accessToken,
      onReset: (d) => resets.push(d),
    });
    const seen: string[] = [];
    const sub = client.events.stream.subscribe(
      { lastEventId: "0000-1" },
      { onData: (item) => seen.push(envelopeOf(item).type) },
    );
    cleanups.push(() => sub.unsubscribe());
    await expect.poll(() => resets.length).toBe(1);
    expect(resets[0]).toEqual({ reason: "epoch-changed", lastEventId: "0000-1" });
    expect(seen).toEqual(["connected", "reset"]);
  });

  it("rejects a wrong input with BAD_REQUEST and a forbidden tenant publish with FORBIDDEN", async () => {
    const gw = await gateway();
    const accessToken = await gw.token({ roles: [] });
    const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken });
    await expect(client.events.publish.mutate({ type: "ping", data: 1, to: "me" })).rejects.toMatchObject({
      data: { code: "BAD_REQUEST", httpStatus: 400 },
    });
    await expect(client.events.publish.mutate({ type: "x", data: 1, to: "tenant" })).rejects.toMatchObject({
      data: { code: "FORBIDDEN", httpStatus: 403 },
    });
  });
});

describe("openEventStream in Node", () => {
  it("receives every event in order across server-side ends with fresh stream tokens", async () => {
    const gw = await gateway({ SSE_MAX_CONNECTION_MS: "1500", SSE_HEARTBEAT_MS: "500" });
    let tokenRequests = 0;
    const accessToken = await gw.token();
    const events: EventEnvelope[] = [];
    const connections: boolean[] = [];
    const stream = openEventStream(gw.url, {
      // A bare string: fetched again on every connect.
      getStreamToken: async () => {
        tokenRequests++;
        return (await fetchStreamToken(gw.url, accessToken)).token;
      },
      types: ["n"],
      onEvent: (envelope) => events.push(envelope),
      onConnected: (info) => connections.push(info.resumed),
    });
    cleanups.push(() => stream.close());
    await expect.poll(() => connections.length).toBe(1);
    const ids: string[] = [];
    for (let n = 1; n <= 12; n++) {
      ids.push((await gw.publish(accessToken, { type: n % 4 === 0 ? "other" : "n", data: n, to: "me" })).id as string);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const expected = ids.filter((_, i) => (i + 1) % 4 !== 0);
    await expect.poll(() => events.length, { timeout: 8000 }).toBe(expected.length);
    expect(events.map((e) => e.id)).toEqual(expected);
    expect(connections.length).toBeGreaterThanOrEqual(2);
    expect(connections.slice(1).every((resumed) => resumed)).toBe(true);
    expect(tokenRequests).toBe(connections.length);
    expect(stream.lastEventId).toBe(expected.at(-1));
  });

  it("after a refused token (401) it fetches a new one and connects", async () => {
    const gw = await gateway();
    const accessToken = await gw.token();
    const handed: string[] = [];
    const connections: boolean[] = [];
    const events: EventEnvelope[] = [];
    const stream = openEventStream(gw.url, {
      // First a token the gateway refuses, then real ones (with their lifetime, so they are cached).
      getStreamToken: async () => {
        if (handed.length === 0) {
          handed.push("bad");
          return { token: "not-a-stream-token", expiresIn: 300 };
        }
        handed.push("good");
        return fetchStreamToken(gw.url, accessToken);
      },
      types: ["n"],
      onEvent: (envelope) => events.push(envelope),
      onConnected: (info) => connections.push(info.resumed),
    });
    cleanups.push(() => stream.close());
    await expect.poll(() => connections.length).toBe(1);
    expect(handed).toEqual(["bad", "good"]);
    const published = await gw.publish(accessToken, { type: "n", data: 1, to: "me" });
    await expect.poll(() => events.map((e) => e.id)).toEqual([published.id]);
    // A dropped connection reuses the cached good token.
    stream.reconnect();
    await expect.poll(() => connections.length).toBe(2);
    expect(handed).toEqual(["bad", "good"]);
  });
});

describe("onEvents in Node against a real gateway", () => {
  it("calls the handler with the catalog-typed envelope; onReady fires before the first publish, which arrives", async () => {
    const gw = await gateway();
    const accessToken = await gw.token({ sub: "u1", tenantId: "t1" });
    // Three fresh subscriptions in a row: each publishes the moment it is ready, and none loses it.
    for (let round = 1; round <= 3; round++) {
      const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken });
      const log: string[] = [];
      const received: CatalogEnvelope<"demo.message">[] = [];
      const published: string[] = [];
      const stop = onEvents(
        client,
        {
          "demo.message": (event) => {
            const text: string = event.data.text;
            log.push(`event:${text}`);
            received.push(event);
          },
        },
        {
          onReady: (info) => {
            log.push(`ready:${info.resumed}`);
            void (async () => {
              // At once, no wait: an event of another type, then two of the handled one.
              await client.events.publish.mutate({ type: "other.type", data: 1, to: "me" });
              for (const text of [`first-${round}`, `second-${round}`]) {
                const result = await client.events.publish.mutate({ type: "demo.message", data: { text }, to: "me" });
                published.push(result.id as string);
              }
            })();
          },
        },
      );
      cleanups.push(stop);
      await expect.poll(() => received.length).toBe(2);
      expect(log).toEqual(["ready:false", `event:first-${round}`, `event:second-${round}`]);
      expect(received.map((event) => event.id)).toEqual(published);
      expect(received[0]).toEqual({
        id: published[0],
        type: "demo.message",
        data: { text: `first-${round}` },
        tenantId: "t1",
        userId: "u1",
        timestamp: expect.any(String),
        correlationId: expect.any(String),
      });
      stop();
    }
  });

  it("follows a granted topic: a publish to it arrives with `topic` set and no userId; other topics do not", async () => {
    const gw = await gateway();
    const accessToken = await gw.token({ sub: "u1", tenantId: "t1", extra: { topics: ["order:*"] } });
    const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken });
    const received: CatalogEnvelope<"demo.message">[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const stop = onEvents(
      client,
      { "demo.message": (event) => received.push(event) },
      { topics: ["order:1"], onReady: () => ready() },
    );
    cleanups.push(stop);
    await isReady;
    await client.events.publish.mutate({ type: "demo.message", data: { text: "not mine" }, to: { topic: "order:2" } });
    const { id } = await client.events.publish.mutate({
      type: "demo.message",
      data: { text: "for order 1" },
      to: { topic: "order:1" },
    });
    await expect.poll(() => received.length).toBe(1);
    expect(received[0]).toEqual({
      id,
      type: "demo.message",
      data: { text: "for order 1" },
      tenantId: "t1",
      topic: "order:1",
      timestamp: expect.any(String),
      correlationId: expect.any(String),
    });
    expect("userId" in (received[0] as object)).toBe(false);
    // One more on the subscribed topic proves "order:2" was filtered, not still in flight.
    await client.events.publish.mutate({ type: "demo.message", data: { text: "again" }, to: { topic: "order:1" } });
    await expect.poll(() => received.map((event) => event.data.text)).toEqual(["for order 1", "again"]);
  });

  it("refuses a topic that is not granted through onError (FORBIDDEN), never onReady", async () => {
    const gw = await gateway();
    const accessToken = await gw.token({ sub: "u1", tenantId: "t1", extra: { topics: ["order:*"] } });
    const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken });
    const errors: string[] = [];
    let readies = 0;
    const stop = onEvents(
      client,
      { "demo.message": () => {} },
      {
        topics: ["invoice:1"],
        onReady: () => readies++,
        onError: (error) => errors.push(`${error.data?.code}: ${error.message}`),
      },
    );
    cleanups.push(stop);
    await expect.poll(() => errors).toEqual(["FORBIDDEN: topic not allowed: invoice:1"]);
    expect(readies).toBe(0);
  });

  it("delivers presence.join / presence.leave of a topic with presence, and presence.list agrees", async () => {
    const gw = await gateway();
    const grants = { topics: ["order:*"] };
    const aliceToken = await gw.token({ sub: "alice", tenantId: "t1", extra: grants });
    const bobToken = await gw.token({ sub: "bob", tenantId: "t1", extra: grants });
    const alice = createBffClient({ url: gw.url, getAccessToken: () => aliceToken });
    const bob = createBffClient({ url: gw.url, getAccessToken: () => bobToken });
    const seen: string[] = [];
    let aliceReady!: () => void;
    const aliceIsReady = new Promise<void>((resolve) => {
      aliceReady = resolve;
    });
    const stopAlice = onEvents(
      alice,
      {
        "presence.join": (event) =>
          seen.push(`join:${event.data.userId}:${event.data.topic}:${event.topic}:${event.id}`),
        "presence.leave": (event) => seen.push(`leave:${event.data.userId}:${event.data.topic}`),
      },
      { topics: ["order:1"], onReady: () => aliceReady() },
    );
    cleanups.push(stopAlice);
    await aliceIsReady;
    const others = () => seen.filter((line) => !line.includes(":alice:"));
    expect(others()).toEqual([]);

    let bobReady!: () => void;
    const bobIsReady = new Promise<void>((resolve) => {
      bobReady = resolve;
    });
    // Bob follows the topic without presence; his stream's opening is what Alice sees.
    const stopBob = onEvents(bob, { "demo.message": () => {} }, { topics: ["order:1"], onReady: () => bobReady() });
    cleanups.push(stopBob);
    await bobIsReady;
    await expect.poll(others).toEqual(["join:bob:order:1:order:1:"]);
    const list = await alice.presence.list.query({ topic: "order:1" });
    expect(list.topic).toBe("order:1");
    expect([...list.users].sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
      { userId: "alice", connections: 1 },
      { userId: "bob", connections: 1 },
    ]);

    stopBob();
    await expect.poll(others).toEqual(["join:bob:order:1:order:1:", "leave:bob:order:1"]);
    expect((await alice.presence.list.query({ topic: "order:1" })).users).toEqual([
      { userId: "alice", connections: 1 },
    ]);
  });
});

describe("topics and presence on the raw route and through the tab stream", () => {
  it("openEventStream passes ?topics= and ?presence=1: topic events and presence reach onEvent, presence is no position", async () => {
    const gw = await gateway();
    const grants = { topics: ["order:*"] };
    const aliceToken = await gw.token({ sub: "alice", tenantId: "t1", extra: grants });
    const bobToken = await gw.token({ sub: "bob", tenantId: "t1", extra: grants });
    const events: EventEnvelope[] = [];
    let connected!: () => void;
    const isConnected = new Promise<void>((resolve) => {
      connected = resolve;
    });
    const stream = openEventStream(gw.url, {
      getStreamToken: () => fetchStreamToken(gw.url, aliceToken),
      types: ["demo.message"],
      topics: ["order:1"],
      presence: true,
      onEvent: (envelope) => events.push(envelope),
      onConnected: () => connected(),
    });
    cleanups.push(() => stream.close());
    await isConnected;
    const bob = createBffClient({ url: gw.url, getAccessToken: () => bobToken });
    const { id } = await bob.events.publish.mutate({
      type: "demo.message",
      data: { text: "on order 1" },
      to: { topic: "order:1" },
    });
    const messages = () => events.filter((e) => e.type === "demo.message");
    await expect.poll(() => messages().length).toBe(1);
    expect(messages()[0]).toMatchObject({ id, type: "demo.message", topic: "order:1", data: { text: "on order 1" } });
    expect(messages()[0]?.userId).toBeUndefined();
    // A stream is not told of its own opening: no join yet.
    expect(events.filter((e) => e.type === "presence.join")).toEqual([]);

    const stopBob = onEvents(bob, { "demo.message": () => {} }, { topics: ["order:1"] });
    await expect
      .poll(() => events.filter((e) => e.type === "presence.join").map((e) => e.data))
      .toEqual([{ topic: "order:1", userId: "bob" }]);
    stopBob();
    await expect
      .poll(() => events.filter((e) => e.type === "presence.leave").map((e) => e.data))
      .toEqual([{ topic: "order:1", userId: "bob" }]);
    expect(events.filter((e) => e.type.startsWith("presence.")).map((e) => e.id)).toEqual(["", ""]);
    // Presence is not a position: the resume point is still the last event.
    expect(stream.lastEventId).toBe(id);
  });

  it("TabStream hands a late subscriber the attached stream's `connected`, passes every presence envelope (empty id, never deduplicated) and each event once", async () => {
    const gw = await gateway();
    const grants = { topics: ["order:*"] };
    const aliceToken = await gw.token({ sub: "alice", tenantId: "t1", extra: grants });
    const bobToken = await gw.token({ sub: "bob", tenantId: "t1", extra: grants });
    const alice = createBffClient({ url: gw.url, getAccessToken: () => aliceToken });
    const bob = createBffClient({ url: gw.url, getAccessToken: () => bobToken });
    // The producer createBffClient's shared stream uses, over a real tRPC stream.
    const stream = new TabStream(
      (lastEventId, sink) => {
        const sub = alice.events.stream.subscribe(
          { topics: ["order:1"], presence: true, ...(lastEventId === undefined ? {} : { lastEventId }) },
          {
            onData: (item) => sink.event(envelopeOf(item)),
            onConnectionStateChange: (state) => sink.state(state.state === "pending" ? "open" : state.state),
          },
        );
        return () => sub.unsubscribe();
      },
      async () => undefined,
    );
    const first: EventEnvelope[] = [];
    const late: EventEnvelope[] = [];
    const listener = (into: EventEnvelope[]) => ({ event: (e: EventEnvelope) => into.push(e), state: () => {} });
    cleanups.push(stream.subscribe(listener(first)));
    // `connected` (a stream is not told of its own opening).
    await expect.poll(() => first.map((e) => e.type)).toEqual(["connected"]);
    cleanups.push(stream.subscribe(listener(late)));
    // Joining an attached stream: its `connected` (the same connection's) at once.
    expect(late).toEqual([first[0]]);
    const ofBob = (list: EventEnvelope[]) =>
      list.filter((e) => (e.data as { userId?: string } | undefined)?.userId !== "alice");

    for (let round = 0; round < 2; round++) {
      const stop = onEvents(bob, {}, { topics: ["order:1"] });
      await expect.poll(() => ofBob(late).filter((e) => e.type === "presence.join").length).toBe(round + 1);
      stop();
      await expect.poll(() => ofBob(late).filter((e) => e.type === "presence.leave").length).toBe(round + 1);
    }
    const { id } = await bob.events.publish.mutate({
      type: "demo.message",
      data: { text: "x" },
      to: { topic: "order:1" },
    });
    await expect.poll(() => late.at(-1)?.id).toBe(id);
    const expected = [
      "connected",
      "presence.join",
      "presence.leave",
      "presence.join",
      "presence.leave",
      "demo.message",
    ];
    expect(ofBob(late).map((e) => e.type)).toEqual(expected);
    expect(ofBob(first).map((e) => e.type)).toEqual(expected);
    expect(first).toHaveLength(expected.length);
  });
});
