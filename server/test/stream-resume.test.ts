import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture, type StreamOptions } from "./helpers/gateway-fixture.js";
import type { SseClient } from "./helpers/sse-client.js";

const { gateway, openStream } = gatewayFixture();

async function stream(gw: Gateway, token: string, options: StreamOptions = {}) {
  const client = await openStream(gw, token, options);
  expect(client.status).toBe(200);
  await client.waitForEvent("connected");
  return client;
}

function connected(client: SseClient): { resumed: boolean } {
  return JSON.parse(client.events.find((e) => e.event === "connected")?.data ?? "{}");
}

async function publishN(gw: Gateway, token: string, from: number, to: number, target: "me" | "tenant" = "me") {
  const ids: string[] = [];
  for (let n = from; n <= to; n++)
    ids.push((await gw.publish(token, { type: "n", data: { n }, to: target })).id as string);
  return ids;
}

describe("resume with Last-Event-ID", () => {
  it("after a disconnect delivers exactly the missed events in order, once, then live ones", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1", roles: ["admin"] });
    const first = await stream(gw, token);
    const ids = await publishN(gw, token, 1, 5);
    await first.waitForData(5);
    expect(first.dataEvents().map((e) => e.id)).toEqual(ids);
    first.close();
    await expect.poll(() => gw.app.hub.connectionCount).toBe(0);

    // Missed: personal and tenant broadcasts interleaved.
    const missed = [
      ...(await publishN(gw, token, 6, 7)),
      ...(await publishN(gw, token, 8, 8, "tenant")),
      ...(await publishN(gw, token, 9, 10)),
    ];
    const second = await stream(gw, token, { lastEventId: ids[4] });
    expect(connected(second)).toEqual({ clientId: expect.any(String), resumed: true });
    await second.waitForData(5);
    const live = await publishN(gw, token, 11, 12);
    await second.waitForData(7);
    await new Promise((resolve) => setImmediate(resolve));
    expect(second.dataEvents().map((e) => e.id)).toEqual([...missed, ...live]);
    expect(second.envelopes<{ data: { n: number } }>().map((e) => e.data.n)).toEqual([6, 7, 8, 9, 10, 11, 12]);
  });

  it("accepts ?lastEventId= as well, and resumes from the replay buffer while another stream keeps the key", async () => {
    const gw = await gateway();
    const token = await gw.token();
    const keeper = await stream(gw, token);
    const ids = await publishN(gw, token, 1, 4);
    await keeper.waitForData(4);
    const resumed = await stream(gw, token, { query: `?lastEventId=${encodeURIComponent(ids[1] as string)}` });
    await resumed.waitForData(2);
    expect(resumed.dataEvents().map((e) => e.id)).toEqual(ids.slice(2));
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/replay_events_total\{source="buffer"\} 2/);
  });

  it("resuming at the newest id sends nothing old, then live events", async () => {
    const gw = await gateway();
    const token = await gw.token();
    const ids = await publishN(gw, token, 1, 3);
    const client = await stream(gw, token, { lastEventId: ids[2] });
    expect(connected(client).resumed).toBe(true);
    const [live] = await publishN(gw, token, 4, 4);
    await client.waitForData(1);
    expect(client.dataEvents().map((e) => e.id)).toEqual([live]);
  });

  it("a history much larger than the socket buffer is replayed completely (the replay waits for the client)", async () => {
    const gw = await gateway({ REPLAY_BUFFER_SIZE: "3000", SSE_MAX_PENDING_BYTES: "65536", RATE_LIMIT_MAX: "5000" });
    const token = await gw.token();
    const first = await publishN(gw, token, 0, 0);
    const big = "x".repeat(1000);
    const ids: string[] = [];
    for (let n = 1; n <= 1000; n++)
      ids.push((await gw.publish(token, { type: "n", data: { n, big }, to: "me" })).id as string);
    const client = await stream(gw, token, { lastEventId: first[0] });
    await client.waitForData(1000, 20_000);
    expect(client.dataEvents().map((e) => e.id)).toEqual(ids);
  });
});

describe("reset when the position cannot be served", () => {
  async function expectReset(gw: Gateway, token: string, lastEventId: string, reason: string) {
    const client = await stream(gw, token, { lastEventId });
    expect(connected(client).resumed).toBe(false);
    await client.waitForEvent("reset");
    const resets = client.events.filter((e) => e.event === "reset");
    expect(resets).toHaveLength(1);
    const envelope = JSON.parse(resets[0]?.data ?? "");
    expect(envelope).toMatchObject({ type: "reset", data: { reason, lastEventId } });
    expect(resets[0]?.id).toBe(envelope.id);
    // Live events follow the reset.
    const [live] = await publishN(gw, token, 100, 100);
    await client.waitForData(1);
    expect(client.dataEvents().map((e) => e.id)).toEqual([live]);
    return { resetId: envelope.id as string, client };
  }

  it("for an unknown id", async () => {
    const gw = await gateway();
    const token = await gw.token();
    await publishN(gw, token, 1, 2);
    await expectReset(gw, token, "not-an-id", "unknown-id");
    await expectReset(gw, token, `${gw.app.bus.epoch}-999999`, "unknown-id");
  });

  it("for an id older than the retained history, and the reset id resumes cleanly", async () => {
    const gw = await gateway({ REPLAY_BUFFER_SIZE: "10" });
    const token = await gw.token();
    const ids = await publishN(gw, token, 1, 30);
    const { resetId, client: resetStream } = await expectReset(gw, token, ids[2] as string, "position-expired");
    resetStream.close();
    // The reset's id is the head at that moment: resuming from it misses nothing after it.
    const after = await publishN(gw, token, 31, 32);
    const client = await stream(gw, token, { lastEventId: resetId });
    expect(connected(client).resumed).toBe(true);
    await client.waitForData(3);
    expect(
      client
        .dataEvents()
        .map((e) => e.id)
        .slice(1),
    ).toEqual(after);
  });

  it("for an id from a previous process start (another epoch of the in-process bus)", async () => {
    const previous = await gateway();
    const token = await previous.token();
    const [oldId] = await publishN(previous, token, 1, 1);
    const current = await gateway();
    await publishN(current, token, 1, 3);
    await expectReset(current, token, oldId as string, "epoch-changed");
    const metrics = await (await fetch(`${current.url}/metrics`)).text();
    expect(metrics).toMatch(/stream_resets_total\{reason="epoch-changed"\} 1/);
  });
});
