import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { body, natsSuite } from "./helpers/nats-suite.js";

const { gateway, openStream } = gatewayFixture();

async function publishRaw(gw: Gateway, token: string, payload: unknown) {
  const res = await fetch(`${gw.url}/events/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function publishTrpc(gw: Gateway, token: string, payload: unknown) {
  const res = await fetch(`${gw.url}/trpc/events.publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  return {
    status: res.status,
    body: (await res.json()) as {
      error: { message: string; data: { code: string; zodIssues: { path: unknown[] }[] } };
    },
  };
}

describe("the event catalog at the publish doors", () => {
  it("refuses demo.message data that does not match its schema on both doors, with the zod issues, and delivers nothing", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const stream = await openStream(gw, token);
    await stream.waitForEvent("connected");

    const cases = [{}, { text: "" }, { text: 5 }, { text: "x".repeat(2001) }, "hello", null];
    for (const data of cases) {
      const raw = await publishRaw(gw, token, { type: "demo.message", data, to: "me" });
      expect(raw.status, JSON.stringify(data)).toBe(400);
      expect(raw.body.message).toMatch(/^data/);
      expect(raw.body.issues).toEqual(
        expect.arrayContaining([expect.objectContaining({ path: expect.arrayContaining(["data"]) })]),
      );
      const trpc = await publishTrpc(gw, token, { type: "demo.message", data, to: "me" });
      expect(trpc.status).toBe(400);
      expect(trpc.body.error.data.code).toBe("BAD_REQUEST");
      expect(trpc.body.error.message).toMatch(/^data/);
      expect(trpc.body.error.data.zodIssues[0]?.path[0]).toBe("data");
    }
    // The next valid publish is the first event the stream sees; unknown keys are dropped.
    const ok = await publishRaw(gw, token, { type: "demo.message", data: { text: "hi", extra: 1 }, to: "me" });
    expect(ok).toMatchObject({ status: 200, body: { status: "published" } });
    await stream.waitForData(1);
    expect(stream.envelopes().map((e) => [e.type, e.data])).toEqual([["demo.message", { text: "hi" }]]);
  });

  it("delivers types outside the catalog untyped by default, and refuses them with EVENT_CATALOG_STRICT=true", async () => {
    const lax = await gateway();
    const token = await lax.token();
    expect((await publishRaw(lax, token, { type: "custom.thing", data: [1, 2], to: "me" })).status).toBe(200);
    expect((await publishTrpc(lax, token, { type: "custom.thing", data: [1, 2], to: "me" })).status).toBe(200);

    const strict = await gateway({ EVENT_CATALOG_STRICT: "true" });
    const raw = await publishRaw(strict, token, { type: "custom.thing", data: 1, to: "me" });
    expect(raw).toMatchObject({ status: 400, body: { message: "unknown event type: custom.thing" } });
    const trpc = await publishTrpc(strict, token, { type: "custom.thing", data: 1, to: "me" });
    expect(trpc.status).toBe(400);
    expect(trpc.body.error).toMatchObject({
      message: "unknown event type: custom.thing",
      data: { code: "BAD_REQUEST" },
    });
    // Catalog types still pass in strict mode.
    expect((await publishRaw(strict, token, { type: "demo.message", data: { text: "ok" }, to: "me" })).status).toBe(
      200,
    );
  });

  it("reserves presence.join and presence.leave for the gateway", async () => {
    const gw = await gateway();
    const token = await gw.token();
    for (const type of ["presence.join", "presence.leave", "connected", "reset", "ping"]) {
      expect((await publishRaw(gw, token, { type, data: {}, to: "me" })).status, type).toBe(400);
      expect((await publishTrpc(gw, token, { type, data: {}, to: "me" })).status, type).toBe(400);
    }
  });
});

const suite = natsSuite();

describe.skipIf(!suite.available)("the event catalog at the NATS door", () => {
  it("skips and counts a backend message whose data does not match, and delivers the next one", async () => {
    const gw = await suite.gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const stream = await suite.stream(gw, token);
    const { js } = suite.nats;
    await js.publish("events.t1.broadcast", body({ type: "demo.message", data: { text: 42 } }));
    await js.publish("events.t1.broadcast", body({ type: "demo.message", data: { text: "from the backend" } }));
    await stream.waitForData(1);
    expect(stream.envelopes().map((e) => [e.type, e.data])).toEqual([["demo.message", { text: "from the backend" }]]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^nats_messages_invalid_total\{reason="schema"\} 1$/m);
  });

  it("with EVENT_CATALOG_STRICT=true skips a backend message of a type outside the catalog as unknown-type", async () => {
    const gw = await suite.gateway({ EVENT_CATALOG_STRICT: "true" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const stream = await suite.stream(gw, token);
    const { js } = suite.nats;
    await js.publish("events.t1.user.u1", body({ type: "not.in.catalog", data: 1 }));
    await js.publish("events.t1.user.u1", body({ type: "demo.message", data: { text: "typed" } }));
    await stream.waitForData(1);
    expect(stream.envelopes().map((e) => e.type)).toEqual(["demo.message"]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^nats_messages_invalid_total\{reason="unknown-type"\} 1$/m);
  });
});
