import { createTRPCClient, httpBatchLink } from "@trpc/client";
import { afterEach, describe, expect, it } from "vitest";
import type { AppRouter } from "../src/app.js";
import { startDemoUpstream } from "../src/demo-upstream/demo-upstream.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { type HttpResult, request } from "./helpers/http.js";
import { RecordingUpstream, type UpstreamHandler } from "./helpers/recording-upstream.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(handler: UpstreamHandler, env: Record<string, string> = {}, deps = {}) {
  const upstream = await RecordingUpstream.start(handler);
  cleanups.push(() => upstream.close());
  const gw = await startGateway({ UPSTREAM_URL: upstream.url, ...env }, deps);
  cleanups.push(() => gw.close());
  return { upstream, gw };
}

/** Answers 201 with a body that differs per call, so a replay is told apart from a second call. */
function counting(): UpstreamHandler {
  let calls = 0;
  return (_req, res, recorded) => {
    calls += 1;
    res.writeHead(201, { "content-type": "application/json", "x-call": String(calls) });
    res.end(JSON.stringify({ call: calls, key: recorded.headers["idempotency-key"] }));
  };
}

function post(gw: Gateway, path: string, token: string, key: string | undefined, method = "POST") {
  return request(`${gw.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(key === undefined ? {} : { "idempotency-key": key }),
    },
    body: JSON.stringify({ title: "t" }),
  });
}

function answer(res: HttpResult) {
  return {
    status: res.status,
    type: res.headers["content-type"],
    call: res.headers["x-call"],
    body: res.body,
  };
}

describe("Idempotency-Key on the raw proxy", () => {
  it("calls the upstream once for the same key and answers the repeat identically", async () => {
    const { upstream, gw } = await setup(counting());
    const token = await gw.token();
    const first = await post(gw, "/api/orders", token, "order-1");
    const second = await post(gw, "/api/orders", token, "order-1");
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]?.headers["idempotency-key"]).toBe("order-1");
    expect(answer(first)).toEqual({
      status: 201,
      type: "application/json",
      call: "1",
      body: '{"call":1,"key":"order-1"}',
    });
    expect(answer(second)).toEqual(answer(first));
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(first.headers["idempotent-replayed"]).toBeUndefined();

    // another key, another method on another path: new calls
    await post(gw, "/api/orders", token, "order-2");
    await post(gw, "/api/orders/9", token, "order-3", "PUT");
    await post(gw, "/api/orders/9", token, "order-3", "PUT");
    expect(upstream.requests).toHaveLength(3);
  });

  it("makes concurrent duplicates wait for the first call", async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrive = () => {};
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    const inner = counting();
    const { upstream, gw } = await setup(async (req, res, recorded) => {
      arrive();
      await released;
      await inner(req, res, recorded);
    });
    const token = await gw.token();
    const calls = Array.from({ length: 5 }, () => post(gw, "/api/orders", token, "same"));
    await arrived;
    release();
    const answers = (await Promise.all(calls)).map(answer);
    expect(upstream.requests).toHaveLength(1);
    for (const a of answers) expect(a).toEqual(answers[0]);
  });

  it("keeps keys per user, refuses a key reused for another request, and ignores it on GET", async () => {
    const { upstream, gw } = await setup(counting());
    const alice = await gw.token({ sub: "alice" });
    const bob = await gw.token({ sub: "bob" });
    const otherTenantAlice = await gw.token({ sub: "alice", tenantId: "t2" });
    expect(answer(await post(gw, "/api/orders", alice, "k")).call).toBe("1");
    expect(answer(await post(gw, "/api/orders", bob, "k")).call).toBe("2");
    expect(answer(await post(gw, "/api/orders", otherTenantAlice, "k")).call).toBe("3");

    const reused = await post(gw, "/api/invoices", alice, "k");
    expect(reused.status).toBe(422);
    expect(JSON.parse(reused.body)).toMatchObject({ statusCode: 422 });

    const get = (key: string) =>
      request(`${gw.url}/api/orders`, { headers: { authorization: `Bearer ${alice}`, "idempotency-key": key } });
    await get("g");
    await get("g");
    expect(upstream.requests).toHaveLength(5);
    expect(upstream.requests[4]?.headers["idempotency-key"]).toBe("g");

    const invalid = await post(gw, "/api/orders", alice, "x".repeat(256));
    expect(invalid.status).toBe(400);
    expect(upstream.requests).toHaveLength(5);
  });

  it("does not store 5xx answers or bodies over the size cap, and forgets keys after PROXY_IDEMPOTENCY_TTL_MS", async () => {
    let clock = 1_000_000;
    let mode: "fail" | "big" | "ok" = "fail";
    const big = Buffer.alloc(300 * 1024, 7);
    const inner = counting();
    const { upstream, gw } = await setup(
      (req, res, recorded) => {
        if (mode === "fail") res.writeHead(503, { "content-type": "text/plain" }).end("try again");
        else if (mode === "big") res.writeHead(200, { "content-type": "application/octet-stream" }).end(big);
        else inner(req, res, recorded);
      },
      { PROXY_IDEMPOTENCY_TTL_MS: "60000" },
      { now: () => clock },
    );
    const token = await gw.token();
    expect((await post(gw, "/api/a", token, "k1")).status).toBe(503);
    mode = "ok";
    expect((await post(gw, "/api/a", token, "k1")).status).toBe(201);
    expect(upstream.requests).toHaveLength(2);

    mode = "big";
    const bigAnswers = [await post(gw, "/api/b", token, "k2"), await post(gw, "/api/b", token, "k2")];
    for (const res of bigAnswers) expect(res.bytes.equals(big)).toBe(true);
    expect(upstream.requests).toHaveLength(4);

    mode = "ok";
    await post(gw, "/api/c", token, "k3");
    await post(gw, "/api/c", token, "k3");
    expect(upstream.requests).toHaveLength(5);
    clock += 60_001;
    await post(gw, "/api/c", token, "k3");
    expect(upstream.requests).toHaveLength(6);
  });
});

describe("idempotencyKey on typed mutations", () => {
  it("creates once and answers the repeat with the same result", async () => {
    const demo = await startDemoUpstream();
    cleanups.push(() => demo.close());
    const gw = await startGateway({ UPSTREAM_URL: demo.url.href });
    cleanups.push(() => gw.close());
    const client = createTRPCClient<AppRouter>({
      links: [httpBatchLink({ url: `${gw.url}/trpc`, headers: { authorization: `Bearer ${await gw.token()}` } })],
    });
    const first = await client.proxy.createTodo.mutate({ body: { title: "pay rent" }, idempotencyKey: "rent-1" });
    const again = await client.proxy.createTodo.mutate({ body: { title: "pay rent" }, idempotencyKey: "rent-1" });
    expect(again).toEqual(first);
    expect((await client.proxy.listTodos.query()).items).toHaveLength(1);
    // without the key, the upstream is called again and refuses the duplicate title
    await expect(client.proxy.createTodo.mutate({ body: { title: "pay rent" } })).rejects.toMatchObject({
      data: { code: "CONFLICT" },
    });
  });
});
