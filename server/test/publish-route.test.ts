import { describe, expect, it } from "vitest";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { request } from "./helpers/http.js";

const { gateway, openStream } = gatewayFixture();

type Answer = { status: number; body: Record<string, unknown> };

async function publishRaw(
  gw: Gateway,
  token: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await request(`${gw.url}/events/publish`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: JSON.parse(res.body) as Record<string, unknown> };
}

const contractError = (statusCode: number, message: RegExp | string) => ({
  statusCode,
  error: expect.any(String),
  message: typeof message === "string" ? message : expect.stringMatching(message),
  requestId: expect.any(String),
});

describe("POST /events/publish (events.publish without tRPC)", () => {
  it("delivers to the caller's streams with the same envelope and id order as events.publish", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await openStream(gw, token);
    await client.waitForEvent("connected");

    const first = await publishRaw(gw, token, {
      type: "order.updated",
      data: { n: 1 },
      to: "me",
      correlationId: "c-1",
    });
    const second = await gw.publish(token, { type: "order.updated", data: { n: 2 }, to: "me" });
    const third = await publishRaw(gw, token, { type: "order.updated", data: { n: 3 }, to: "me" });

    expect(first).toEqual({
      status: 200,
      body: { requestId: expect.any(String), status: "published", id: expect.any(String) },
    });
    await client.waitForData(3);
    const frames = client.dataEvents();
    expect(frames.map((e) => e.id)).toEqual([first.body.id, second.id, third.body.id]);
    expect(frames.map((e) => (JSON.parse(e.data) as { data: unknown }).data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(JSON.parse(frames[0]?.data ?? "")).toEqual({
      id: first.body.id,
      type: "order.updated",
      data: { n: 1 },
      tenantId: "t1",
      userId: "u1",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      correlationId: "c-1",
    });
  });

  it("broadcasts to the caller's tenant only with the admin role, never to another tenant", async () => {
    const gw = await gateway();
    const user = await gw.token({ sub: "u1", tenantId: "t1" });
    const admin = await gw.token({ sub: "a1", tenantId: "t1", roles: ["admin"] });
    const sameTenant = await openStream(gw, await gw.token({ sub: "u2", tenantId: "t1" }));
    const otherTenant = await openStream(gw, await gw.token({ sub: "u2", tenantId: "t2" }));
    await sameTenant.waitForEvent("connected");
    await otherTenant.waitForEvent("connected");

    const refused = await publishRaw(gw, user, { type: "notice", data: 1, to: "tenant" });
    expect(refused).toEqual({ status: 403, body: contractError(403, /admin role/) });

    const sent = await publishRaw(gw, admin, { type: "notice", data: 2, to: "tenant" }, { "x-tenant-id": "t2" });
    expect(sent.body.status).toBe("published");
    await sameTenant.waitForData(1);
    // A later personal event of the other tenant's user arrives alone: the broadcast never did.
    const marker = await gw.publish(await gw.token({ sub: "u2", tenantId: "t2" }), { type: "m", to: "me" });
    await otherTenant.waitForData(1);
    expect(otherTenant.dataEvents().map((e) => e.id)).toEqual([marker.id]);
    expect(sameTenant.dataEvents().map((e) => e.id)).toEqual([sent.body.id]);
  });

  it("publishes once per idempotency key, from the body or the Idempotency-Key header", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await openStream(gw, token);
    await client.waitForEvent("connected");

    const first = await publishRaw(gw, token, { type: "t", data: 1, to: "me", idempotencyKey: "k-1" });
    const byHeader = await publishRaw(gw, token, { type: "t", data: 2, to: "me" }, { "idempotency-key": "k-1" });
    const viaTrpc = await gw.publish(token, { type: "t", data: 3, to: "me", idempotencyKey: "k-1" });
    const both = await publishRaw(
      gw,
      token,
      { type: "t", data: 3, to: "me", idempotencyKey: "k-1" },
      { "idempotency-key": "k-1" },
    );
    const differ = await publishRaw(
      gw,
      token,
      { type: "t", data: 3, to: "me", idempotencyKey: "k-1" },
      { "idempotency-key": "k-2" },
    );

    expect(first.body).toMatchObject({ status: "published" });
    expect(byHeader.body).toMatchObject({ status: "duplicate", id: first.body.id });
    expect(viaTrpc).toMatchObject({ status: "duplicate", id: first.body.id });
    expect(both.body).toMatchObject({ status: "duplicate", id: first.body.id });
    expect(differ).toEqual({ status: 400, body: contractError(400, /differ/) });
    // Exactly one event reached the stream: a later one is the next frame.
    const later = await publishRaw(gw, token, { type: "t", data: 4, to: "me" });
    await client.waitForData(2);
    expect(client.dataEvents().map((e) => e.id)).toEqual([first.body.id, later.body.id]);
  });

  it("refuses bad input and credentials with the contract's error shape, publishing nothing", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await openStream(gw, token);
    await client.waitForEvent("connected");

    const cases: [unknown, Record<string, string>, number, RegExp][] = [
      [{ type: "ping", data: 1, to: "me" }, {}, 400, /type: .*reserved/],
      [{ type: "has space", data: 1, to: "me" }, {}, 400, /^type: /],
      [{ type: "t", data: 1, to: "everyone" }, {}, 400, /^to: /],
      [{ type: "t", data: 1, to: "me", idempotencyKey: "" }, {}, 400, /^idempotencyKey: /],
      [{ type: "t", data: 1, to: "me" }, { "idempotency-key": "k".repeat(129) }, 400, /^idempotencyKey: /],
      [{ type: "t", to: "me" }, {}, 400, /^data: /],
      [[{ type: "t", data: 1, to: "me" }], {}, 400, /JSON object/],
      ['{"type": "t", "to": ', {}, 400, /JSON/],
      [{ type: "t", data: 1, to: "me" }, { "content-type": "text/plain" }, 415, /content-type/i],
    ];
    for (const [body, headers, status, message] of cases) {
      const answer = await publishRaw(gw, token, body, headers);
      expect(answer, JSON.stringify(body)).toEqual({
        status,
        body: message.source.includes(": ")
          ? {
              ...contractError(status, message),
              issues: expect.arrayContaining([expect.objectContaining({ path: expect.any(Array) })]),
            }
          : contractError(status, message),
      });
    }
    const streamToken = (await (
      await fetch(`${gw.url}/events/token`, { method: "POST", headers: { authorization: `Bearer ${token}` } })
    ).json()) as { token: string };
    for (const credential of [undefined, "not-a-jwt", streamToken.token]) {
      expect(await publishRaw(gw, credential, { type: "t", data: 1, to: "me" })).toEqual({
        status: 401,
        body: contractError(401, /./),
      });
    }
    const marker = await publishRaw(gw, token, { type: "t", data: "marker", to: "me" });
    await client.waitForData(1);
    expect(client.dataEvents().map((e) => e.id)).toEqual([marker.body.id]);
  });
});
