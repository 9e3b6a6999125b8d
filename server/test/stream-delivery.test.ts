import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { checkAwkwardIdIsolation } from "./helpers/isolation.js";
import { SseClient } from "./helpers/sse-client.js";

const { gateway, openStream } = gatewayFixture();

async function stream(
  gw: Gateway,
  token: string,
  query = "",
  headers: Record<string, string> = {},
): Promise<SseClient> {
  const client = await openStream(gw, token, { query, headers });
  if (client.status === 200) await client.waitForEvent("connected");
  return client;
}

describe("GET /events/stream", () => {
  it("starts with retry and connected, with SSE headers, then delivers published events in order", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await stream(gw, token);

    expect(client.status).toBe(200);
    expect(client.res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(client.res.headers["cache-control"]).toBe("no-cache, no-transform");
    expect(client.res.headers["x-accel-buffering"]).toBe("no");
    expect(client.res.headers["content-encoding"]).toBeUndefined();
    expect(client.events[0]?.event).toBe("connected");
    expect(client.events[0]?.id).toBeUndefined();
    expect(JSON.parse(client.events[0]?.data ?? "")).toEqual({ clientId: expect.any(String), resumed: false });

    const ids: string[] = [];
    for (let n = 1; n <= 3; n++) {
      ids.push((await gw.publish(token, { type: "order.updated", data: { n }, to: "me" })).id as string);
    }
    await client.waitForData(3);
    expect(client.dataEvents().map((e) => e.id)).toEqual(ids);
    expect(client.dataEvents().map((e) => e.event)).toEqual(["order.updated", "order.updated", "order.updated"]);
    const envelope = JSON.parse(client.dataEvents()[0]?.data ?? "");
    expect(envelope).toEqual({
      id: ids[0],
      type: "order.updated",
      data: { n: 1 },
      tenantId: "t1",
      userId: "u1",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      correlationId: expect.any(String),
    });
  });

  it("sends heartbeat comments while idle and ends a stream after SSE_MAX_CONNECTION_MS", async () => {
    const gw = await gateway({ SSE_HEARTBEAT_MS: "100", SSE_MAX_CONNECTION_MS: "1500" });
    const client = await stream(gw, await gw.token());
    await client.waitFor(() => client.comments.filter((c) => /^ping \d+$/.test(c)).length >= 2, 3000, "2 pings");
    await client.waitForEnd(4000);
    expect(gw.app.hub.connectionCount).toBe(0);
  });

  it("rejects missing or bad credentials and malformed query input with the JSON error shape", async () => {
    const gw = await gateway();
    const anonymous = await SseClient.open(`${gw.url}/events/stream`);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toEqual({
      statusCode: 401,
      error: "Unauthorized",
      message: expect.any(String),
      requestId: expect.any(String),
    });
    const badTypes = await stream(gw, await gw.token(), "?types=a%0Ab");
    expect(badTypes.status).toBe(400);
    const tooLong = await stream(gw, await gw.token(), `?lastEventId=${"x".repeat(300)}`);
    expect(tooLong.status).toBe(400);
    expect(JSON.parse(tooLong.body).statusCode).toBe(400);
  });

  it("applies CORS to the stream: a listed origin is allowed with credentials, another gets no allow-origin", async () => {
    const gw = await gateway({ CORS_ORIGINS: "http://app.example:8080" });
    const token = await gw.token();
    const allowed = await stream(gw, token, "", { origin: "http://app.example:8080" });
    expect(allowed.res.headers["access-control-allow-origin"]).toBe("http://app.example:8080");
    expect(allowed.res.headers["access-control-allow-credentials"]).toBe("true");
    const other = await stream(gw, token, "", { origin: "http://evil.example" });
    expect(other.status).toBe(200);
    expect(other.res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("filters by ?types= without affecting other streams", async () => {
    const gw = await gateway();
    const token = await gw.token();
    const filtered = await stream(gw, token, "?types=a,c");
    const all = await stream(gw, token);
    for (const type of ["a", "b", "c"]) await gw.publish(token, { type, to: "me" });
    await all.waitForData(3);
    await filtered.waitForData(2);
    expect(filtered.dataEvents().map((e) => e.event)).toEqual(["a", "c"]);
    expect(all.dataEvents().map((e) => e.event)).toEqual(["a", "b", "c"]);
  });
});

describe("tenant isolation", () => {
  it("each stream gets exactly its own personal events and its tenant's broadcasts", async () => {
    const gw = await gateway();
    // Two users of one tenant, and a user of another tenant with the same user id.
    const alice = await gw.token({ sub: "u1", tenantId: "t1", roles: ["admin"] });
    const bob = await gw.token({ sub: "u2", tenantId: "t1" });
    const carol = await gw.token({ sub: "u1", tenantId: "t2", roles: ["admin"] });
    const [a, b, c] = [await stream(gw, alice), await stream(gw, bob), await stream(gw, carol)];

    await gw.publish(alice, { type: "personal.alice", to: "me" });
    await gw.publish(bob, { type: "personal.bob", to: "me" });
    await gw.publish(carol, { type: "personal.carol", to: "me" });
    await gw.publish(alice, { type: "broadcast.t1", to: "tenant" });
    await gw.publish(carol, { type: "broadcast.t2", to: "tenant" });
    await gw.publish(alice, { type: "end", to: "tenant" });
    await gw.publish(bob, { type: "end", to: "me" });
    await gw.publish(carol, { type: "end", to: "tenant" });

    for (const s of [a, b, c]) await s.waitFor(() => s.dataEvents().some((e) => e.event === "end"), 5000, "end");
    // Carol's personal end event and t2 broadcasts come after everything else.
    expect(a.dataEvents().map((e) => e.event)).toEqual(["personal.alice", "broadcast.t1", "end"]);
    expect(b.dataEvents().map((e) => e.event)).toEqual(["personal.bob", "broadcast.t1", "end", "end"]);
    expect(c.dataEvents().map((e) => e.event)).toEqual(["personal.carol", "broadcast.t2", "end"]);
    expect(new Set(c.envelopes().map((e) => e.tenantId))).toEqual(new Set(["t2"]));
  });

  it("holds for ids containing subject syntax, spaces and unicode", async () => {
    await checkAwkwardIdIsolation([await gateway()], stream, 4);
  });
});

describe("per-user connection limit", () => {
  it("answers 429 to the 11th stream of a user and keeps the 10 open ones streaming", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "busy" });
    const open = [];
    for (let i = 0; i < 10; i++) open.push(await stream(gw, token));
    const rejected = await stream(gw, token);
    expect(rejected.status).toBe(429);
    expect(rejected.res.headers["retry-after"]).toMatch(/^\d+$/);
    expect(JSON.parse(rejected.body)).toMatchObject({ statusCode: 429, error: "Too Many Requests" });
    // Another user is unaffected.
    expect((await stream(gw, await gw.token({ sub: "other" }))).status).toBe(200);

    const { id } = await gw.publish(token, { type: "still.here", to: "me" });
    for (const s of open) {
      await s.waitForData(1);
      expect(s.dataEvents().map((e) => e.id)).toEqual([id]);
    }
    // A slot frees up when a stream closes.
    open[0]?.close();
    await expect.poll(() => gw.app.hub.connectionCount).toBe(10);
    expect((await stream(gw, token)).status).toBe(200);
  });
});
