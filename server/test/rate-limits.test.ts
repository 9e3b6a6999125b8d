import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { inBatches, request } from "./helpers/http.js";
import { startRedis } from "./helpers/redis-server.js";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken } from "./helpers/tokens.js";

let gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.map((gw) => gw.close()));
  gateways = [];
});

async function gateway(env: Record<string, string> = {}) {
  const gw = await startGateway(env);
  gateways.push(gw);
  return gw;
}

const BAD = { authorization: "Bearer not.a.token" };

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("per-IP budget for unauthenticated and failed requests", () => {
  it("refuses a flood of 2,000 bad tokens with 429 after the budget while another IP keeps working", async () => {
    const gw = await gateway(); // RATE_LIMIT_IP_MAX default: 1200 per minute
    const good = await gw.token({ sub: "good" });
    const statuses = await inBatches(2000, 50, () =>
      request(`${gw.url}/events/stream`, { headers: BAD, localAddress: "127.0.0.1" }).then((r) => r.status),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(1200);
    expect(statuses.filter((s) => s === 429)).toHaveLength(800);

    // The flooding IP is refused before its token is even looked at, valid or not…
    const fromFlooder = await request(`${gw.url}/trpc/events.publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${good}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "x", data: null, to: "me" }),
      localAddress: "127.0.0.1",
    });
    expect(fromFlooder.status).toBe(429);
    expect(Number(fromFlooder.headers["retry-after"])).toBeGreaterThan(0);
    expect(JSON.parse(fromFlooder.body)).toMatchObject({ statusCode: 429, error: "Too Many Requests" });

    // …while another client IP's good requests keep succeeding.
    for (let i = 0; i < 20; i++) {
      const ok = await request(`${gw.url}/events/token`, {
        method: "POST",
        headers: { authorization: `Bearer ${good}` },
        localAddress: "127.0.0.2",
      });
      expect(ok.status).toBe(200);
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metric(metrics, 'rate_limited_total{scope="ip"}')).toBe(801);
    expect(metric(metrics, 'auth_failures_total{reason="malformed"}')).toBe(1200);
  });

  it("gives POST /events/token a ten times stricter failure budget", async () => {
    const gw = await gateway({ RATE_LIMIT_IP_MAX: "100" });
    const statuses = await inBatches(15, 5, () =>
      request(`${gw.url}/events/token`, { method: "POST", headers: BAD }).then((r) => r.status),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    // Other routes still have the rest of the IP budget.
    expect((await request(`${gw.url}/events/stream`, { headers: BAD })).status).toBe(401);
  });

  it("counts 404s against the IP budget (no free route oracle)", async () => {
    const gw = await gateway({ RATE_LIMIT_IP_MAX: "5" });
    const statuses = await inBatches(8, 1, (i) => request(`${gw.url}/probe-${i}`).then((r) => r.status));
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
    // Public routes are not affected.
    expect((await request(`${gw.url}/health`)).status).toBe(200);
  });
});

describe("per-user budgets", () => {
  it("limits API and tRPC calls per user with RATE_LIMIT_MAX, other users unaffected", async () => {
    const gw = await gateway({ RATE_LIMIT_MAX: "5" });
    const alice = await gw.token({ sub: "alice" });
    const bob = await gw.token({ sub: "bob" });
    const publish = (token: string) =>
      request(`${gw.url}/trpc/events.publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "x", data: null, to: "me" }),
      });
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await publish(alice)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const limited = await publish(alice);
    expect(limited.headers["retry-after"]).toMatch(/^\d+$/);
    expect((await publish(bob)).status).toBe(200);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metric(metrics, 'rate_limited_total{scope="user"}')).toBe(3);
  });

  it("counts every call of a tRPC batch: a batch of 17 publishes with RATE_LIMIT_MAX=5 publishes nothing past the budget", async () => {
    const gw = await gateway({ RATE_LIMIT_MAX: "5" });
    const token = await gw.token({ sub: "batcher" });
    const stream = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
    await stream.waitForEvent("connected");
    const batch = (n: number) =>
      request(`${gw.url}/trpc/${Array.from({ length: n }, () => "events.publish").join(",")}?batch=1`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(
          Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { type: "x", data: i, to: "me" }])),
        ),
      });
    expect((await batch(3)).status).toBe(200);
    const over = await batch(17);
    expect(over.status).toBe(429);
    expect((await batch(2)).status).toBe(429);
    const marker = await gw.app.bus.publish({ tenant: "t1", user: "batcher" }, { type: "marker", data: null });
    await stream.waitForEvent("marker");
    // The three of the first batch, then the marker: the 17 were refused whole.
    expect(stream.dataEvents().map((e) => e.event)).toEqual(["x", "x", "x", "marker"]);
    expect(marker.status).toBe("published");
    stream.close();
  });

  it("keeps the budgets of 6,000 users (more than the plugin's default store of 5,000 keys)", async () => {
    const gw = await gateway({ RATE_LIMIT_MAX: "1" });
    const call = async (token: string) =>
      (
        await gw.app.inject({
          method: "POST",
          url: "/events/token",
          headers: { authorization: `Bearer ${token}` },
        })
      ).statusCode;
    const tokens = await Promise.all(Array.from({ length: 6000 }, (_, i) => gw.token({ sub: `user-${i}` })));
    for (const token of tokens) expect(await call(token)).toBe(200);
    // The first user's count was not evicted by the 5,999 after it: a second call is over budget.
    expect(await call(tokens[0] as string)).toBe(429);
  });

  it("limits stream connection attempts per user, raw and tRPC together", async () => {
    const gw = await gateway({ RATE_LIMIT_STREAM_MAX: "3" });
    const token = await gw.token();
    const opened: SseClient[] = [];
    for (const path of ["/events/stream", "/trpc/events.stream", "/events/stream"]) {
      const client = await SseClient.open(`${gw.url}${path}`, { authorization: `Bearer ${token}` });
      expect(client.status).toBe(200);
      opened.push(client);
    }
    const fourth = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
    expect(fourth.status).toBe(429);
    expect(fourth.res.headers["retry-after"]).toMatch(/^\d+$/);
    for (const client of opened) client.close();
  });
});

describe("with REDIS_URL", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it("two gateway instances share one budget", async () => {
    const env = { REDIS_URL: redis.url, RATE_LIMIT_IP_MAX: "30" };
    const a = await gateway(env);
    const b = await gateway(env);
    const statuses = await inBatches(40, 1, (i) =>
      request(`${(i % 2 === 0 ? a : b).url}/events/token`, { method: "POST", headers: BAD }).then((r) => r.status),
    );
    // The token route allows ceil(30 / 10) = 3 failures per IP, across both instances.
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    const stream = await inBatches(40, 1, (i) =>
      request(`${(i % 2 === 0 ? a : b).url}/events/stream`, { headers: BAD }).then((r) => r.status),
    );
    expect(stream.filter((s) => s === 401)).toHaveLength(27);
    expect(stream.filter((s) => s === 429)).toHaveLength(13);
  });

  it("keeps answering when Redis hangs (SIGSTOP): limits are skipped (fail-open) and /ready says so, until it answers again", async () => {
    const gw = await gateway({ REDIS_URL: redis.url });
    const token = await accessToken({ sub: "u1", tenantId: "t1" });
    const ready = async () =>
      (await (await fetch(`${gw.url}/ready`)).json()) as { status: string; rateLimitStore?: string };
    expect(await ready()).toMatchObject({ status: "ready", rateLimitStore: "ok" });
    redis.signal("SIGSTOP");
    try {
      // Each of these waited for Redis forever before; a hang here fails the test at its bound.
      const bounded = { signal: AbortSignal.timeout(5000) };
      const publish = await fetch(`${gw.url}/events/publish`, {
        ...bounded,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "n", data: 1, to: "me" }),
      });
      expect(publish.status).toBe(200);
      const anonymous = await fetch(`${gw.url}/events/token`, { ...bounded, method: "POST" });
      expect(anonymous.status).toBe(401);
      const call = await fetch(`${gw.url}/events/token`, {
        ...bounded,
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
      expect(call.status).toBe(200);
      await expect.poll(async () => (await ready()).rateLimitStore, { timeout: 10_000 }).toBe("unavailable");
      expect((await ready()).status).toBe("ready");
    } finally {
      redis.signal("SIGCONT");
    }
    await expect.poll(async () => (await ready()).rateLimitStore, { timeout: 10_000 }).toBe("ok");
  });
});
