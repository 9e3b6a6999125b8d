import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { eventually, natsSuite, restartNats } from "./helpers/nats-suite.js";

const suite = natsSuite({ restartAfterEach: true });
const { available, stream } = suite;
const gateway = (env: Record<string, string> = {}, onStreamReplaced?: (reason: string) => void) =>
  suite.gateway(env, { onStreamReplaced });

const readyStatus = async (gw: Gateway) => (await fetch(`${gw.url}/ready`)).status;

describe.skipIf(!available)("NATS outage", () => {
  it("goes 503 while NATS is down for 5 s, queues publishes, then delivers every event exactly once, in order", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);
    const results = [];
    for (let i = 1; i <= 3; i++) results.push(await gw.publish(token, { type: `e${i}`, to: "me" }));
    await client.waitForData(3);

    await suite.nats.server.stop();
    await eventually(async () => (await readyStatus(gw)) === 503, 10_000, "/ready 503");
    for (let i = 4; i <= 6; i++) {
      results.push(await gw.publish(token, { type: `e${i}`, to: "me", idempotencyKey: `k${i}` }));
    }
    expect(gw.app.bus.isReady()).toBe(false);
    const depth = await gw.app.metrics.registry.getSingleMetricAsString("publish_queue_depth");
    expect(depth).toMatch(/publish_queue_depth 3/);
    // The outage itself lasts 5 s (the scenario, not a wait for a condition).
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await restartNats(suite.nats);
    await eventually(async () => (await readyStatus(gw)) === 200, 15_000, "/ready 200 again");
    for (let i = 7; i <= 8; i++) results.push(await gw.publish(token, { type: `e${i}`, to: "me" }));

    expect(results.map((r) => r.status)).toEqual([
      "published",
      "published",
      "published",
      "queued",
      "queued",
      "queued",
      "published",
      "published",
    ]);
    expect(results.slice(3, 6).every((r) => r.id === undefined)).toBe(true);
    await client.waitForData(8, 15_000);
    const received = client.envelopes<{ id: string; type: string; correlationId?: string }>();
    expect(received.map((e) => e.type)).toEqual(["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"]);
    const seqs = received.map((e) => Number(e.id.split("-")[1]));
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // A queued event carries the request id as its correlation id (contract section 7).
    expect(received[3]?.correlationId).toBe(results[3]?.requestId);
    expect((await suite.nats.jsm.streams.info("EVENTS")).state.messages).toBe(8);
    const metrics = await gw.app.metrics.registry.metrics();
    expect(metrics).toMatch(/^nats_reconnects_total [1-9]/m);
    expect(metrics).toMatch(/^publish_queue_depth 0$/m);
    expect(metrics).toMatch(/^events_published_total\{status="queued"\} 3$/m);
  });
});

describe.skipIf(!available)("NATS outage with a full publish queue", () => {
  it("answers 503 SERVICE_UNAVAILABLE with Retry-After on both doors once NATS_PUBLISH_QUEUE_SIZE publishes wait, and keeps the queued ones", async () => {
    const gw = await gateway({ NATS_PUBLISH_QUEUE_SIZE: "2" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);
    await suite.nats.server.stop();
    await eventually(async () => (await readyStatus(gw)) === 503, 10_000, "/ready 503");
    expect((await gw.publish(token, { type: "q1", to: "me" })).status).toBe("queued");
    expect((await gw.publish(token, { type: "q2", to: "me" })).status).toBe("queued");
    const full = await fetch(`${gw.url}/trpc/events.publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "q3", data: null, to: "me" }),
    });
    expect(full.status).toBe(503);
    expect(full.headers.get("retry-after")).toBe("5");
    expect(((await full.json()) as { error: { data: { code: string } } }).error.data.code).toBe("SERVICE_UNAVAILABLE");
    // The HTTP door answers the same, in the contract's error shape.
    const fullRaw = await fetch(`${gw.url}/events/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "q4", data: null, to: "me" }),
    });
    expect(fullRaw.status).toBe(503);
    expect(fullRaw.headers.get("retry-after")).toBe("5");
    expect(await fullRaw.json()).toMatchObject({ statusCode: 503, error: "Service Unavailable" });
    await restartNats(suite.nats);
    await client.waitForData(2, 15_000);
    expect(client.dataEvents().map((e) => e.event)).toEqual(["q1", "q2"]);
  });
});

/**
 * A gateway whose "stream replaced" callback settles `replacedReason`, and a stream of u1 (t1)
 * that has received three events old1..old3.
 */
async function gatewayWithThreeEvents() {
  let replaced: (reason: string) => void = () => undefined;
  const replacedReason = new Promise<string>((resolve) => {
    replaced = resolve;
  });
  const gw = await gateway({}, (reason) => replaced(reason));
  const token = await gw.token({ sub: "u1", tenantId: "t1" });
  const client = await stream(gw, token);
  for (let i = 1; i <= 3; i++) await gw.publish(token, { type: `old${i}`, to: "me" });
  await client.waitForData(3);
  return { gw, replacedReason, token, client };
}

describe.skipIf(!available)("stream deleted and recreated", () => {
  it("stops the running instance (not ready, owner told) and answers an old id with reset on the new stream", async () => {
    const { gw: old, replacedReason, token, client } = await gatewayWithThreeEvents();
    const lastOldId = client.envelopes().at(-1)?.id as string;

    await suite.nats.jsm.streams.delete("EVENTS");
    expect(await replacedReason).toMatch(/stream (deleted|recreated)/);
    expect(await readyStatus(old)).toBe(503);
    const refused = await fetch(`${old.url}/trpc/events.publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "late", data: null, to: "me" }),
    });
    expect(refused.status).toBe(503);

    const fresh = await gateway();
    expect(fresh.app.bus.epoch).not.toBe(old.app.bus.epoch);
    const resumed = await stream(fresh, token, { "last-event-id": lastOldId });
    await resumed.waitForEvent("reset");
    const reset = JSON.parse(resumed.events.find((e) => e.event === "reset")?.data ?? "{}");
    expect(reset).toMatchObject({
      id: `${fresh.app.bus.epoch}-0`,
      data: { reason: "epoch-changed", lastEventId: lastOldId },
    });
    const next = await fresh.publish(token, { type: "new1", to: "me" });
    await resumed.waitForData(1);
    expect(resumed.dataEvents().map((e) => [e.id, e.event])).toEqual([[next.id, "new1"]]);
    expect(next.id).toBe(`${fresh.app.bus.epoch}-1`);
  });

  it("notices a stream recreated behind its back before handing out positions of the new one", async () => {
    const { replacedReason, client } = await gatewayWithThreeEvents();
    const info = await suite.nats.jsm.streams.info("EVENTS");
    await suite.nats.jsm.streams.delete("EVENTS");
    await suite.nats.jsm.streams.add({ ...info.config });
    for (let i = 1; i <= 5; i++)
      await suite.nats.js.publish("events.t1.user.u1", new TextEncoder().encode('{"type":"new","data":1}'));
    expect(await replacedReason).toMatch(/stream (deleted|recreated)/);
    // Nothing of the new stream went out under the old epoch.
    expect(client.dataEvents().map((e) => e.event)).toEqual(["old1", "old2", "old3"]);
  });
});
