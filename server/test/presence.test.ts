import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { GatewayProcess } from "./helpers/gateway-process.js";
import { natsSuite } from "./helpers/nats-suite.js";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken } from "./helpers/tokens.js";

const fixture = gatewayFixture();

type Presence = { type: string; data: { topic: string; userId: string }; topic?: string; tenantId: string };

function tokenFor(sub: string, topics: string[] = ["room:*"], tenantId = "t1") {
  return accessToken({ sub, tenantId, extra: { topics } });
}

/** Presence envelopes a raw stream received, asserting they carry no `id:` line. */
function presenceOf(stream: SseClient): [string, string][] {
  return stream.events
    .filter((e) => e.event.startsWith("presence."))
    .map((e) => {
      expect(e.id).toBeUndefined();
      const envelope = JSON.parse(e.data) as Presence;
      expect(envelope.type).toBe(e.event);
      return [e.event, envelope.data.userId];
    });
}

async function list(target: { url: string }, token: string, topic: string) {
  const res = await fetch(`${target.url}/trpc/presence.list?input=${encodeURIComponent(JSON.stringify({ topic }))}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await res.json()) as {
    result?: { data: { topic: string; users: { userId: string; connections: number }[] } };
    error?: { data: { code: string } };
  };
  return { status: res.status, body };
}

async function open(target: { url: string }, token: string, query: string): Promise<SseClient> {
  const stream = fixture.track(
    await SseClient.open(`${target.url}/events/stream${query}`, { authorization: `Bearer ${token}` }),
  );
  expect(stream.status).toBe(200);
  await stream.waitForEvent("connected");
  return stream;
}

describe("presence on one instance", () => {
  it("sends join on a user's first stream and leave on their last, lists connections, and never as positions", async () => {
    const gw = await fixture.gateway();
    const watcher = await tokenFor("watcher");
    const bob = await tokenFor("bob");
    const watching = await open(gw, watcher, "?topics=room:1&presence=1");
    const silent = await open(gw, watcher, "?topics=room:1");

    const tab1 = await open(gw, bob, "?topics=room:1");
    await watching.waitFor(() => presenceOf(watching).length >= 1);
    const tab2 = await open(gw, bob, "?topics=room:1,room:2");
    expect((await list(gw, watcher, "room:1")).body.result?.data).toEqual({
      topic: "room:1",
      users: [
        { userId: "bob", connections: 2 },
        { userId: "watcher", connections: 2 },
      ],
    });
    tab1.close();
    await expect
      .poll(async () => (await list(gw, watcher, "room:1")).body.result?.data.users[0])
      .toEqual({
        userId: "bob",
        connections: 1,
      });
    tab2.close();
    await watching.waitFor(() => presenceOf(watching).length >= 2);
    expect(presenceOf(watching)).toEqual([
      ["presence.join", "bob"],
      ["presence.leave", "bob"],
    ]);
    expect((await list(gw, watcher, "room:1")).body.result?.data.users).toEqual([
      { userId: "watcher", connections: 2 },
    ]);
    // The stream without presence got none; an event after them resumes from the last real id.
    const event = await gw.publish(watcher, { type: "n", data: 1, to: { topic: "room:1" } });
    await watching.waitForEvent("n");
    expect(watching.events.filter((e) => e.id !== undefined).map((e) => e.id)).toEqual([event.id]);
    await silent.waitForEvent("n");
    expect(silent.events.map((e) => e.event)).toEqual(["connected", "n"]);
  });

  it("refuses presence.list for a topic the caller is not granted, and sends no presence of it", async () => {
    const gw = await fixture.gateway();
    const outsider = await tokenFor("outsider", ["lobby"]);
    const bob = await tokenFor("bob");
    expect((await list(gw, outsider, "room:1")).body.error?.data.code).toBe("FORBIDDEN");
    expect((await list(gw, outsider, "room:1")).status).toBe(403);
    const lobby = await open(gw, outsider, "?topics=lobby&presence=1");
    await open(gw, bob, "?topics=room:1");
    const marker = await gw.publish(outsider, { type: "marker", to: "me" });
    await lobby.waitForEvent("marker");
    expect(lobby.events.map((e) => e.id ?? e.event)).toEqual(["connected", marker.id]);
  });

  it("keeps tenants apart: the same topic name in another tenant has its own presence", async () => {
    const gw = await fixture.gateway();
    const a = await tokenFor("alice", ["room:*"], "tA");
    const b = await tokenFor("bob", ["room:*"], "tB");
    const watching = await open(gw, a, "?topics=room:1&presence=1");
    await open(gw, b, "?topics=room:1");
    const alice2 = await tokenFor("alice2", ["room:*"], "tA");
    await open(gw, alice2, "?topics=room:1");
    await watching.waitFor(() => presenceOf(watching).length >= 1);
    expect(presenceOf(watching)).toEqual([["presence.join", "alice2"]]);
    expect((await list(gw, a, "room:1")).body.result?.data.users.map((u) => u.userId)).toEqual(["alice", "alice2"]);
    expect((await list(gw, b, "room:1")).body.result?.data.users.map((u) => u.userId)).toEqual(["bob"]);
  });

  it("delivers presence over tRPC as untracked envelopes", async () => {
    const gw: Gateway = await fixture.gateway();
    const watcher = await tokenFor("watcher");
    const input = encodeURIComponent(JSON.stringify({ topics: ["room:1"], presence: true }));
    const viaTrpc = fixture.track(
      await SseClient.open(`${gw.url}/trpc/events.stream?input=${input}`, { authorization: `Bearer ${watcher}` }),
    );
    await viaTrpc.waitFor(() => viaTrpc.events.some((e) => e.data.includes('"connected"')));
    await open(gw, await tokenFor("bob"), "?topics=room:1");
    await viaTrpc.waitFor(() => viaTrpc.events.some((e) => e.data.includes("presence.join")));
    const join = viaTrpc.events.find((e) => e.data.includes("presence.join"));
    expect(join?.id).toBeUndefined();
    expect(JSON.parse(join?.data ?? "{}")).toMatchObject({
      type: "presence.join",
      topic: "room:1",
      data: { topic: "room:1", userId: "bob" },
    });
  });
});

const suite = natsSuite();

describe.skipIf(!suite.available)("presence across instances on NATS", () => {
  it("sees users of another instance, and a user on both leaves only when both streams are gone", async () => {
    const a = await suite.gateway();
    const b = await suite.gateway();
    const watcher = await tokenFor("watcher");
    const bob = await tokenFor("bob");
    const watching = await open(a, watcher, "?topics=room:1&presence=1");
    const onB = await open(b, bob, "?topics=room:1");
    await watching.waitFor(() => presenceOf(watching).length >= 1, 5000);
    const onA = await open(a, bob, "?topics=room:1");
    await expect
      .poll(async () => (await list(b, watcher, "room:1")).body.result?.data.users)
      .toEqual([
        { userId: "bob", connections: 2 },
        { userId: "watcher", connections: 1 },
      ]);
    onB.close();
    await expect.poll(async () => (await list(a, watcher, "room:1")).body.result?.data.users[0]?.connections).toBe(1);
    onA.close();
    await watching.waitFor(() => presenceOf(watching).length >= 2, 5000);
    expect(presenceOf(watching)).toEqual([
      ["presence.join", "bob"],
      ["presence.leave", "bob"],
    ]);
  });

  it("a new instance learns who is already there", async () => {
    const a = await suite.gateway();
    const bob = await tokenFor("bob");
    await open(a, bob, "?topics=room:9");
    const late = await suite.gateway();
    await expect
      .poll(async () => (await list(late, bob, "room:9")).body.result?.data.users)
      .toEqual([{ userId: "bob", connections: 1 }]);
  });

  it("sends leave within 30 s when the instance holding a user's stream is killed", { timeout: 60_000 }, async () => {
    const a = await suite.gateway();
    const dying = await GatewayProcess.start({ NATS_URL: suite.nats.server.url });
    suite.closeAfter(() => dying.kill("SIGKILL"));
    const watcher = await tokenFor("watcher");
    const watching = await open(a, watcher, "?topics=room:1&presence=1");
    await open(dying, await tokenFor("bob"), "?topics=room:1");
    await watching.waitFor(() => presenceOf(watching).length >= 1, 5000);
    const killedAt = Date.now();
    await dying.kill("SIGKILL");
    await watching.waitFor(() => presenceOf(watching).length >= 2, 30_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(presenceOf(watching)).toEqual([
      ["presence.join", "bob"],
      ["presence.leave", "bob"],
    ]);
  });
});
