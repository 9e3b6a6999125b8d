import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { body, natsSuite } from "./helpers/nats-suite.js";

const { gateway, openStream } = gatewayFixture();

/** `[[[…]]]`, `levels` deep, as JSON text: ~12 KB at 6,000 levels; `JSON.parse` takes it, `JSON.stringify` of it overflows. */
function nestedJson(levels: number): string {
  return `${"[".repeat(levels)}${"]".repeat(levels)}`;
}

async function publishRawText(gw: Gateway, token: string, text: string, path = "/events/publish") {
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: text,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("deeply nested event data", () => {
  it("is refused at both publish doors with 400, and publishes nothing", async () => {
    const gw = await gateway();
    const token = await gw.token();
    const stream = await openStream(gw, token);
    await stream.waitForEvent("connected");
    const poison = `{"type":"x","to":"me","data":${nestedJson(6000)}}`;
    const raw = await publishRawText(gw, token, poison);
    expect(raw.status).toBe(400);
    expect(raw.body.message).toMatch(/^data: nested deeper than 64 levels/);
    const trpc = await publishRawText(gw, token, poison, "/trpc/events.publish");
    expect(trpc.status).toBe(400);
    // 64 levels are fine.
    const ok = await publishRawText(gw, token, `{"type":"x","to":"me","data":${nestedJson(64)}}`);
    expect(ok.status).toBe(200);
    await stream.waitForData(1);
    expect(stream.dataEvents().map((e) => e.id)).toEqual([ok.body.id]);
  });

  it("stored by a path that bypasses the doors, is a logged skip for live and resuming streams, never an ended stream", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const live = await openStream(gw, token);
    await live.waitForEvent("connected");
    const before = await gw.publish(token, { type: "n", data: 1, to: "me" });
    let deep: unknown = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    await gw.app.bus.publish({ tenant: "t1", user: "u1" }, { type: "poison", data: deep });
    const after = await gw.publish(token, { type: "n", data: 2, to: "me" });
    await live.waitForData(2);
    expect(live.dataEvents().map((e) => e.id)).toEqual([before.id, after.id]);

    const resumed = await openStream(gw, token, { lastEventId: before.id });
    await resumed.waitForData(1);
    expect(JSON.parse(resumed.events[0]?.data ?? "{}")).toMatchObject({ resumed: true });
    expect(resumed.dataEvents().map((e) => e.id)).toEqual([after.id]);
    const later = await gw.publish(token, { type: "n", data: 3, to: "me" });
    await resumed.waitForData(2);
    expect(resumed.dataEvents().map((e) => e.id)).toEqual([after.id, later.id]);
    expect(resumed.ended).toBe(false);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^events_unframable_total [1-9]/m);
  });
});

const suite = natsSuite();

describe.skipIf(!suite.available)("deeply nested backend messages on NATS", () => {
  it("are skipped and counted; a client resuming from before one gets everything after it", async () => {
    const gw = await suite.gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const live = await suite.stream(gw, token);
    const before = await gw.publish(token, { type: "n", data: 1, to: "me" });
    await live.waitForData(1);
    await suite.nats.js.publish("events.t1.broadcast", body(`{"type":"poison","data":${nestedJson(6000)}}`));
    const after = await gw.publish(token, { type: "n", data: 2, to: "me" });
    await live.waitForData(2);
    expect(live.dataEvents().map((e) => e.id)).toEqual([before.id, after.id]);
    live.close();

    // A new instance has no buffers: the resume reads JetStream, where the poison message is stored.
    const other = await suite.gateway();
    const resumed = await suite.stream(other, token, { "last-event-id": before.id as string });
    await resumed.waitForData(1);
    expect(JSON.parse(resumed.events[0]?.data ?? "{}")).toMatchObject({ resumed: true });
    expect(resumed.dataEvents().map((e) => e.id)).toEqual([after.id]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^nats_messages_invalid_total\{reason="schema"\} 1$/m);
  });
});
