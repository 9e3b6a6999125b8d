import { describe, expect, it } from "vitest";
import type { EventBus } from "../src/bus/event-bus.js";
import { MemoryBus } from "../src/bus/memory-bus.js";
import { TEST_JWT_SECRET } from "./helpers/config.js";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";
import { inBatches, request } from "./helpers/http.js";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken, nowS, signToken } from "./helpers/tokens.js";

const fixture = gatewayFixture();

function gateway(env: Record<string, string> = {}, bus?: EventBus) {
  return fixture.gateway(env, bus === undefined ? {} : { bus });
}

function open(gw: Gateway, token: string, lastEventId?: string) {
  return fixture.openStream(gw, token, { lastEventId });
}

async function trpc(gw: Gateway, token: string, path: string, input: unknown) {
  const res = await request(`${gw.url}/trpc/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(input),
  });
  return { status: res.status, body: JSON.parse(res.body) };
}

describe("token lifetime on open streams", () => {
  it("ends raw and tRPC streams when the token that opened them expires; a fresh token resumes without loss", async () => {
    const gw = await gateway({ SSE_HEARTBEAT_MS: "100" });
    const shortLived = await accessToken({ sub: "u1", expiresIn: 2 });
    const raw = await open(gw, shortLived);
    const viaTrpc = await SseClient.open(`${gw.url}/trpc/events.stream`, { authorization: `Bearer ${shortLived}` });
    fixture.track(viaTrpc);
    await raw.waitForEvent("connected");
    const longLived = await accessToken({ sub: "u1" });
    const { id: first } = await gw.publish(longLived, { type: "n", data: 1, to: "me" });
    await raw.waitForData(1);

    await raw.waitForEnd(5000);
    await viaTrpc.waitForEnd(5000);
    const { id: missed } = await gw.publish(longLived, { type: "n", data: 2, to: "me" });
    const resumed = await open(gw, longLived, first);
    await resumed.waitForData(1);
    expect(resumed.dataEvents().map((e) => e.id)).toEqual([missed]);
  });
});

describe("auth.revoke", () => {
  it("closes the user's streams on every instance at once; the revoked token then gets 401", async () => {
    const bus = new MemoryBus({ historySize: 100 });
    const a = await gateway({}, bus);
    const b = await gateway({}, bus);
    const victim = await accessToken({ sub: "mallory", tenantId: "t1" });
    const bystander = await accessToken({ sub: "alice", tenantId: "t1" });
    const admin = await accessToken({ sub: "root", tenantId: "t1", roles: ["admin"] });
    const streams = [await open(a, victim), await open(b, victim), await open(b, victim)];
    const other = await open(a, bystander);
    for (const s of [...streams, other]) await s.waitForEvent("connected");

    // A plain user may not revoke someone else.
    const refused = await trpc(a, bystander, "auth.revoke", { userId: "mallory" });
    expect(refused.status).toBe(403);

    const revoked = await trpc(a, admin, "auth.revoke", { userId: "mallory" });
    expect(revoked.status).toBe(200);
    expect(revoked.body.result.data).toMatchObject({
      tenantId: "t1",
      userId: "mallory",
      issuedBefore: expect.any(Number),
    });
    for (const s of streams) await s.waitForEnd(1000);
    expect(other.ended).toBe(false);

    for (const gw of [a, b]) {
      expect((await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${victim}` })).status).toBe(401);
      expect(
        (await request(`${gw.url}/events/token`, { method: "POST", headers: { authorization: `Bearer ${victim}` } }))
          .status,
      ).toBe(401);
    }
    // A token issued after the revocation works.
    const fresh = await signToken(
      { sub: "mallory", tenantId: "t1", iat: nowS() + 1, exp: nowS() + 600 },
      new TextEncoder().encode(TEST_JWT_SECRET),
    );
    expect((await open(b, fresh)).status).toBe(200);
  });

  it("revokes a single token by jti, including the stream tokens issued for it", async () => {
    const gw = await gateway();
    const revokedToken = await accessToken({ sub: "u1", extra: { jti: "session-1" } });
    const keptToken = await accessToken({ sub: "u1", extra: { jti: "session-2" } });
    const streamToken = JSON.parse(
      (
        await request(`${gw.url}/events/token`, {
          method: "POST",
          headers: { authorization: `Bearer ${revokedToken}` },
        })
      ).body,
    ).token as string;
    const viaUrl = await SseClient.open(`${gw.url}/events/stream?token=${streamToken}`);
    fixture.track(viaUrl);
    const kept = await open(gw, keptToken);
    await viaUrl.waitForEvent("connected");

    expect((await trpc(gw, revokedToken, "auth.revoke", { jti: "session-1" })).status).toBe(200);
    await viaUrl.waitForEnd(1000);
    expect(kept.ended).toBe(false);
    expect((await SseClient.open(`${gw.url}/events/stream?token=${streamToken}`)).status).toBe(401);
    expect((await trpc(gw, revokedToken, "events.publish", { type: "x", data: null, to: "me" })).status).toBe(401);
    expect((await trpc(gw, keptToken, "events.publish", { type: "x", data: null, to: "me" })).status).toBe(200);
  });
});

describe("reconnect storm", () => {
  it("2,000 streams cut at once reconnect with their last ids: every event exactly once, bus calls bounded", async () => {
    const inner = new MemoryBus({ historySize: 1000 });
    const calls = { subscribe: 0, readAfter: 0 };
    const bus: EventBus = Object.assign(Object.create(inner) as EventBus, {
      subscribe: (...args: Parameters<EventBus["subscribe"]>) => {
        calls.subscribe++;
        return inner.subscribe(...args);
      },
      readAfter: (...args: Parameters<EventBus["readAfter"]>) => {
        calls.readAfter++;
        return inner.readAfter(...args);
      },
    });
    const gw = await gateway(
      {
        MAX_CONNECTIONS_PER_USER: "20",
        RATE_LIMIT_STREAM_MAX: "100",
        RATE_LIMIT_MAX: "100000",
        RATE_LIMIT_IP_MAX: "100000",
        // The 2,000 clients share this process's event loop: its lag is the test's, not load.
        EVENT_LOOP_MAX_DELAY_MS: "0",
      },
      bus,
    );
    const users = Array.from({ length: 100 }, (_, i) => `user-${i}`);
    const tokens = await Promise.all(users.map((sub) => accessToken({ sub, tenantId: "storm" })));
    const admin = await accessToken({ sub: "admin", tenantId: "storm", roles: ["admin"] });
    const streams = await inBatches(2000, 100, (i) => open(gw, tokens[i % 100] as string));
    await Promise.all(streams.map((s) => s.waitForEvent("connected", 1, 60_000)));

    const before: string[] = [];
    for (let n = 1; n <= 3; n++)
      before.push((await gw.publish(admin, { type: "b", data: n, to: "tenant" })).id as string);
    await Promise.all(streams.map((s) => s.waitForData(3, 60_000)));
    const subscribesBefore = calls.subscribe;

    // Cut every stream at once; publish while they are all away.
    for (const s of streams) s.close();
    await expect.poll(() => gw.app.hub.connectionCount, { timeout: 10_000 }).toBe(0);
    const missed: string[] = [];
    for (let n = 4; n <= 6; n++)
      missed.push((await gw.publish(admin, { type: "b", data: n, to: "tenant" })).id as string);

    const again = await inBatches(2000, 2000, (i) => open(gw, tokens[i % 100] as string, before[2]));
    expect(again.filter((s) => s.status !== 200)).toHaveLength(0);
    await Promise.all(again.map((s) => s.waitForData(3, 60_000)));
    const live = (await gw.publish(admin, { type: "b", data: 7, to: "tenant" })).id as string;
    await Promise.all(again.map((s) => s.waitForData(4, 60_000)));
    for (const s of again) expect(s.dataEvents().map((e) => e.id)).toEqual([...missed, live]);

    // Resumes came from the hub's buffers: no new bus subscriptions, no history reads.
    expect(calls.subscribe - subscribesBefore).toBe(0);
    expect(calls.readAfter).toBe(0);
    expect((await request(`${gw.url}/health`)).status).toBe(200);
  }, 180_000);

  it("a client reconnecting in a loop is stopped by the attempt budget before it reaches the hub", async () => {
    const gw = await gateway({ RATE_LIMIT_STREAM_MAX: "20", MAX_CONNECTIONS_PER_USER: "100" });
    const token = await accessToken({ sub: "looper" });
    const statuses = await inBatches(200, 10, async () => {
      const client = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
      client.close();
      return client.status;
    });
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(180);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/rate_limited_total\{scope="stream"\} 180/);
  });
});

describe("load shedding", () => {
  it("answers new streams and calls with 503 + Retry-After while the event loop lags; open streams keep flowing", async () => {
    const gw = await gateway({ EVENT_LOOP_MAX_DELAY_MS: "100" });
    const token = await accessToken({ sub: "u1" });
    // Start-up work lags the loop too: wait until the gateway admits the stream.
    let openStream: SseClient | undefined;
    await expect
      .poll(async () => {
        openStream = await open(gw, token);
        return openStream.status;
      })
      .toBe(200);
    if (openStream === undefined) throw new Error("unreachable");
    await openStream.waitForEvent("connected");

    // Lag the event loop: 300 ms of busy work, over and over.
    let lagging = true;
    const busy = () => {
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* block */
      }
      if (lagging) setTimeout(busy, 5);
    };
    setTimeout(busy, 0);
    try {
      let shed: Awaited<ReturnType<typeof request>> | undefined;
      await expect
        .poll(
          async () => {
            shed = await request(`${gw.url}/events/token`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}` },
            });
            return shed.status;
          },
          { timeout: 10_000, interval: 50 },
        )
        .toBe(503);
      expect(shed?.headers["retry-after"]).toBe("5");
      expect(JSON.parse(shed?.body ?? "")).toMatchObject({ statusCode: 503, error: "Service Unavailable" });
      const newStream = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
      expect(newStream.status).toBe(503);
      expect(newStream.res.headers["retry-after"]).toBe("5");
      // Liveness is not load.
      expect((await request(`${gw.url}/health`)).status).toBe(200);
      // The open stream still gets events.
      await gw.app.bus.publish({ tenant: "t1", user: "u1" }, { type: "during.lag", data: 1 });
      await openStream.waitForData(1, 10_000);
    } finally {
      lagging = false;
    }
    await expect
      .poll(
        async () =>
          (await request(`${gw.url}/events/token`, { method: "POST", headers: { authorization: `Bearer ${token}` } }))
            .status,
        {
          timeout: 10_000,
          interval: 100,
        },
      )
      .toBe(200);
  });
});

describe("browser-facing headers", () => {
  it("sends a CSP and security headers on the demo page, and they do not break the stream", async () => {
    const gw = await gateway();
    const page = await request(`${gw.url}/`);
    expect(page.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    expect(page.headers["referrer-policy"]).toBe("no-referrer");
    expect(page.headers["cross-origin-opener-policy"]).toBe("same-origin");
    const stream = await open(gw, await accessToken());
    await stream.waitForEvent("connected");
    expect(stream.res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(stream.res.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("sends API responses the headers of a response that is not a page, and not the document ones", async () => {
    const gw = await gateway();
    const token = await accessToken();
    const stream = await open(gw, token);
    await stream.waitForEvent("connected");
    const json = await request(`${gw.url}/events/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    const missing = await request(`${gw.url}/no/such/route`);
    expect(json.status).toBe(200);
    expect(missing.status).toBe(404);
    for (const headers of [stream.res.headers, json.headers, missing.headers]) {
      expect(headers["content-security-policy"]).toBe("default-src 'none';frame-ancestors 'none'");
      expect(headers["x-content-type-options"]).toBe("nosniff");
      expect(headers["x-frame-options"]).toBe("DENY");
      expect(headers["cross-origin-resource-policy"]).toBe("same-origin");
      expect(headers["strict-transport-security"]).toBe("max-age=31536000; includeSubDomains");
      for (const name of [
        "referrer-policy",
        "cross-origin-opener-policy",
        "origin-agent-cluster",
        "x-xss-protection",
      ]) {
        expect(headers[name]).toBeUndefined();
      }
    }
  });

  it("answers CORS preflights for listed origins only, allowing Last-Event-ID and Authorization", async () => {
    const gw = await gateway({ CORS_ORIGINS: "https://app.example" });
    const preflight = (origin: string) =>
      request(`${gw.url}/events/stream`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "GET",
          "access-control-request-headers": "authorization,last-event-id",
        },
      });
    const allowed = await preflight("https://app.example");
    expect(allowed.status).toBe(204);
    expect(allowed.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(allowed.headers["access-control-allow-credentials"]).toBe("true");
    expect(allowed.headers["access-control-allow-headers"]).toMatch(/authorization/);
    expect(allowed.headers["access-control-allow-headers"]).toMatch(/last-event-id/);
    expect(allowed.headers["access-control-max-age"]).toBe("600");
    const refused = await preflight("https://evil.example");
    expect(refused.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
