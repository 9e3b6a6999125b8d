import http from "node:http";
import type { AddressInfo } from "node:net";
import { createTRPCClient, httpBatchLink, type TRPCClientError } from "@trpc/client";
import { afterEach, describe, expect, it } from "vitest";
import type { AppRouter } from "../src/app.js";
import { type DemoUpstream, startDemoUpstream } from "../src/demo-upstream/demo-upstream.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { logCapture } from "./helpers/log-capture.js";
import { RecordingUpstream, type UpstreamHandler } from "./helpers/recording-upstream.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function recording(handler?: UpstreamHandler): Promise<RecordingUpstream> {
  const server = await RecordingUpstream.start(handler);
  cleanups.push(() => server.close());
  return server;
}

async function demo(): Promise<DemoUpstream> {
  const server = await startDemoUpstream();
  cleanups.push(() => server.close());
  return server;
}

async function gateway(env: Record<string, string>, deps: Parameters<typeof startGateway>[1] = {}): Promise<Gateway> {
  const gw = await startGateway(env, deps);
  cleanups.push(() => gw.close());
  return gw;
}

/** The typed client a TypeScript frontend uses (the client package wraps exactly this). */
function client(gw: Gateway, token?: string, headers: Record<string, string> = {}) {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${gw.url}/trpc`,
        headers: { ...headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      }),
    ],
  });
}

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    const e = error as TRPCClientError<AppRouter>;
    return {
      code: e.data?.code,
      httpStatus: e.data?.httpStatus,
      message: e.message,
      data: e.data as Record<string, unknown>,
    };
  }
  throw new Error("expected the call to fail");
}

const json =
  (status: number, body: unknown): UpstreamHandler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };

describe("typed proxy.* operations", () => {
  it("call the upstream and return typed results, scoped to the token's tenant", async () => {
    const upstream = await demo();
    const gw = await gateway({ UPSTREAM_URL: upstream.url.href });
    const alice = client(gw, await gw.token({ sub: "alice", tenantId: "acme" }));
    const bob = client(gw, await gw.token({ sub: "bob", tenantId: "globex" }));

    const created = await alice.proxy.createTodo.mutate({ body: { title: "write docs" } });
    expect(created).toEqual({
      id: expect.any(String),
      title: "write docs",
      done: false,
      createdBy: "alice",
      createdAt: expect.any(String),
    });
    const updated = await alice.proxy.updateTodo.mutate({ params: { id: created.id }, body: { done: true } });
    expect(updated.done).toBe(true);
    expect(await alice.proxy.getTodo.query({ params: { id: created.id } })).toEqual(updated);
    expect((await alice.proxy.listTodos.query()).items.map((t) => t.title)).toEqual(["write docs"]);
    expect((await alice.proxy.listTodos.query({ query: { done: false } })).items).toEqual([]);
    expect((await bob.proxy.listTodos.query({})).items).toEqual([]);
    expect(await alice.proxy.deleteTodo.mutate({ params: { id: created.id } })).toBeUndefined();
    expect((await alice.proxy.listTodos.query()).items).toEqual([]);

    const me = await alice.proxy.whoami.query();
    expect(me).toMatchObject({ tenantId: "acme", userId: "alice" });
    expect(me.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("map upstream 404 and 409 to NOT_FOUND and CONFLICT, other 4xx to their codes", async () => {
    const upstream = await demo();
    const gw = await gateway({ UPSTREAM_URL: upstream.url.href });
    const user = client(gw, await gw.token());
    expect(await failure(user.proxy.getTodo.query({ params: { id: "missing" } }))).toMatchObject({
      code: "NOT_FOUND",
      httpStatus: 404,
      message: "no such todo",
    });
    expect(await failure(user.proxy.deleteTodo.mutate({ params: { id: "missing" } }))).toMatchObject({
      code: "NOT_FOUND",
    });
    await user.proxy.createTodo.mutate({ body: { title: "once" } });
    expect(await failure(user.proxy.createTodo.mutate({ body: { title: "once" } }))).toMatchObject({
      code: "CONFLICT",
      httpStatus: 409,
    });

    const statuses = [
      [400, "BAD_REQUEST"],
      [401, "UNAUTHORIZED"],
      [403, "FORBIDDEN"],
      [422, "UNPROCESSABLE_CONTENT"],
      [429, "TOO_MANY_REQUESTS"],
      [418, "BAD_REQUEST"],
    ] as const;
    for (const [status, code] of statuses) {
      const up = await recording(json(status, { message: `upstream said ${status}` }));
      const gw2 = await gateway({ UPSTREAM_URL: up.url });
      const result = await failure(client(gw2, await gw2.token()).proxy.whoami.query());
      expect(result, String(status)).toMatchObject({ code, message: `upstream said ${status}` });
    }
  });

  it("refuse bad input with BAD_REQUEST before any upstream call", async () => {
    const up = await recording();
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const user = client(gw, await gw.token());
    const attempts = await Promise.all([
      failure(user.proxy.createTodo.mutate({ body: { title: "" } })),
      // @ts-expect-error: params.id is required
      failure(user.proxy.getTodo.query({ params: {} })),
      // @ts-expect-error: the body is required
      failure(user.proxy.createTodo.mutate({})),
      failure(user.proxy.createTodo.mutate({ body: { title: "x" }, idempotencyKey: "has space" })),
      // encodes to a dot segment: the upstream path would change meaning
      failure(user.proxy.getTodo.query({ params: { id: ".." } })),
      failure(user.proxy.getTodo.query({ params: { id: "." } })),
    ]);
    for (const attempt of attempts) expect(attempt).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400 });
    const zod = await failure(user.proxy.createTodo.mutate({ body: { title: "" } }));
    expect(zod.data.zodIssues).toEqual([expect.objectContaining({ path: ["body", "title"] })]);
    expect(up.requests).toEqual([]);
  });

  it("answer BAD_GATEWAY, and log it, when the upstream's answer violates the output schema", async () => {
    const up = await recording(json(200, { items: [{ id: 1, title: "no other fields", secret: "internal" }] }));
    const logs = logCapture();
    const gw = await gateway({ UPSTREAM_URL: up.url, LOG_LEVEL: "error" }, { logStream: logs.stream });
    const result = await failure(client(gw, await gw.token()).proxy.listTodos.query());
    expect(result).toMatchObject({ code: "BAD_GATEWAY", httpStatus: 502 });
    expect(JSON.stringify(result)).not.toContain("internal");
    const logged = logs.lines.filter(
      (line) => line.msg === "upstream response does not match the operation's output schema",
    );
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ operation: "listTodos", status: 200, issues: expect.any(Array) });
    expect(up.requests).toHaveLength(1);

    up.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end("{not json");
    };
    expect(await failure(client(gw, await gw.token()).proxy.listTodos.query())).toMatchObject({ code: "BAD_GATEWAY" });
  });

  it("answer BAD_GATEWAY, GATEWAY_TIMEOUT or SERVICE_UNAVAILABLE when the upstream fails, without naming it", async () => {
    const broken = await recording(json(500, { message: "db at 10.0.0.5 is down" }));
    const slow = await recording(() => {
      // never answers
    });
    const spare = http.createServer();
    await new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", () => resolve()));
    const closedPort = (spare.address() as AddressInfo).port;
    await new Promise((resolve) => spare.close(resolve));

    const cases = [
      [{ UPSTREAM_URL: broken.url }, "BAD_GATEWAY", 502],
      [{ UPSTREAM_URL: `http://127.0.0.1:${closedPort}` }, "BAD_GATEWAY", 502],
      [{ UPSTREAM_URL: slow.url, UPSTREAM_TIMEOUT_MS: "300" }, "GATEWAY_TIMEOUT", 504],
      [{}, "SERVICE_UNAVAILABLE", 503],
    ] as const;
    for (const [env, code, httpStatus] of cases) {
      const gw = await gateway(env);
      const result = await failure(client(gw, await gw.token()).proxy.whoami.query());
      expect(result, code).toMatchObject({ code, httpStatus });
      const text = JSON.stringify(result);
      for (const leak of ["127.0.0.1", "10.0.0.5", String(closedPort), "stack"]) expect(text).not.toContain(leak);
    }
  });

  it("send the raw proxy's headers (identity from the token, request id, trace, Authorization) and encode paths and queries", async () => {
    const up = await recording(json(200, { id: "a/b", title: "t", done: false, createdBy: "u1", createdAt: "now" }));
    const gw = await gateway({ UPSTREAM_URL: `${up.url}/v2` });
    const token = await gw.token({ sub: "carol", tenantId: "initech" });
    const forged = client(gw, token, { "x-tenant-id": "evil", "x-user-id": "mallory" });
    await forged.proxy.getTodo.query({ params: { id: "a/b ?#" } });
    await forged.proxy.createTodo.mutate({ body: { title: "  spaced  " }, idempotencyKey: "key-1" });
    await failure(forged.proxy.listTodos.query({ query: { done: true } }));

    expect(up.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET /v2/todos/a%2Fb%20%3F%23",
      "POST /v2/todos",
      "GET /v2/todos?done=true",
    ]);
    for (const seen of up.requests) {
      expect(seen.headers).toMatchObject({
        "x-tenant-id": "initech",
        "x-user-id": "carol",
        authorization: `Bearer ${token}`,
        "x-request-id": expect.stringMatching(/^[0-9a-f-]{36}$/),
        traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
      });
    }
    const post = up.requests[1];
    expect(post?.headers["content-type"]).toBe("application/json");
    expect(post?.headers["idempotency-key"]).toBe("key-1");
    expect(JSON.parse(post?.body.toString() ?? "")).toEqual({ title: "spaced" });
  });

  it("answer UNAUTHORIZED without a valid token, and nothing reaches the upstream", async () => {
    const up = await recording();
    const gw = await gateway({ UPSTREAM_URL: up.url });
    expect(await failure(client(gw).proxy.whoami.query())).toMatchObject({ code: "UNAUTHORIZED", httpStatus: 401 });
    expect(await failure(client(gw, "garbage").proxy.createTodo.mutate({ body: { title: "x" } }))).toMatchObject({
      code: "UNAUTHORIZED",
    });
    expect(up.requests).toEqual([]);
  });
});
