import type { StreamEnvelope } from "@circl-bff/shared";
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClientError,
  type TRPCLink,
} from "@trpc/client";
import { EventSource } from "eventsource";
import { afterEach, describe, expect, it } from "vitest";
import type { AppRouter } from "../src/app.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { SseClient } from "./helpers/sse-client.js";

let gateways: Gateway[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(gateways.map((gw) => gw.close()));
  gateways = [];
});

async function gateway(env: Record<string, string> = {}): Promise<Gateway> {
  const gw = await startGateway(env);
  gateways.push(gw);
  return gw;
}

function client(gw: Gateway, token: string) {
  const links: TRPCLink<AppRouter>[] = [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({
        url: `${gw.url}/trpc`,
        EventSource,
        connectionParams: async () => {
          const { token: streamToken } = await plain.auth.streamToken.mutate();
          return { token: streamToken };
        },
      }),
      false: httpBatchLink({ url: `${gw.url}/trpc`, headers: { authorization: `Bearer ${token}` } }),
    }),
  ];
  const plain = createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: `${gw.url}/trpc`, headers: { authorization: `Bearer ${token}` } })],
  });
  return createTRPCClient<AppRouter>({ links });
}

async function trpcError(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    const e = error as TRPCClientError<AppRouter>;
    return { code: e.data?.code, httpStatus: e.data?.httpStatus, message: e.message, data: e.data };
  }
  throw new Error("expected the call to fail");
}

type Received = { id: string; type: string; data: unknown };

/** Collects events of a subscription; `waitFor` resolves when `check` holds. */
/**
 * `events.stream` yields tracked `{id, data: envelope}` items, and untracked envelopes
 * (`connected`, presence) as they are: hands only the tracked ones on.
 */
function tracked(handler: (item: { id: string; data: StreamEnvelope }) => void) {
  return (item: object) => {
    if ("type" in item) return;
    handler(item as { id: string; data: StreamEnvelope });
  };
}

function collector() {
  const items: Received[] = [];
  let waiters: { check: () => boolean; resolve: () => void }[] = [];
  return {
    items,
    push(item: Received) {
      items.push(item);
      const ready = waiters.filter((w) => w.check());
      waiters = waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve();
    },
    waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
      if (check()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; got ${items.map((i) => i.type)}`)), timeoutMs);
        waiters.push({
          check,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

describe("events.publish", () => {
  it("publishes to me, refuses tenant broadcasts without admin, and validates input", async () => {
    const gw = await gateway();
    const user = client(gw, await gw.token({ sub: "u1", roles: [] }));
    const result = await user.events.publish.mutate({ type: "note.added", data: { x: 1 }, to: "me" });
    expect(result).toEqual({ requestId: expect.any(String), status: "published", id: expect.stringMatching(/-1$/) });

    const forbidden = await trpcError(user.events.publish.mutate({ type: "all", data: null, to: "tenant" }));
    expect(forbidden).toMatchObject({ code: "FORBIDDEN", httpStatus: 403 });

    const admin = client(gw, await gw.token({ sub: "boss", roles: ["admin"] }));
    expect((await admin.events.publish.mutate({ type: "all", data: null, to: "tenant" })).status).toBe("published");

    const invalid = await trpcError(
      // @ts-expect-error: "everyone" is not a valid target
      user.events.publish.mutate({ type: "bad type!", data: null, to: "everyone" }),
    );
    expect(invalid).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400 });
    const issues = (invalid.data as { zodIssues?: { path: string[] }[] }).zodIssues ?? [];
    expect(issues.map((issue) => issue.path.join("."))).toEqual(["type", "to"]);

    const reserved = await trpcError(user.events.publish.mutate({ type: "reset", data: null, to: "me" }));
    expect(reserved).toMatchObject({ code: "BAD_REQUEST" });
  });

  it("publishes once per idempotencyKey and user, answering duplicate with the first id", async () => {
    const gw = await gateway();
    const alice = client(gw, await gw.token({ sub: "alice" }));
    const bob = client(gw, await gw.token({ sub: "bob" }));
    const first = await alice.events.publish.mutate({ type: "t", data: 1, to: "me", idempotencyKey: "k-1" });
    const again = await alice.events.publish.mutate({ type: "t", data: 2, to: "me", idempotencyKey: "k-1" });
    const other = await bob.events.publish.mutate({ type: "t", data: 3, to: "me", idempotencyKey: "k-1" });
    expect(first.status).toBe("published");
    expect(again).toEqual({ requestId: expect.any(String), status: "duplicate", id: first.id });
    expect(again.requestId).not.toBe(first.requestId);
    expect(other.status).toBe("published");
    expect(other.id).not.toBe(first.id);
    expect(gw.app.bus.head()).toBe(2);
  });

  it("answers UNAUTHORIZED without a valid access token", async () => {
    const gw = await gateway();
    const res = await fetch(`${gw.url}/trpc/events.publish`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer nope" },
      body: JSON.stringify({ type: "x", data: null, to: "me" }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { data: { code: string } } }).error.data.code).toBe("UNAUTHORIZED");
  });

  it("answers a call in one piece with a content-length, and a streamed (jsonl) batch as a stream", async () => {
    const gw = await gateway();
    const headers = { "content-type": "application/json", authorization: `Bearer ${await gw.token({ sub: "u1" })}` };
    const call = (path: string, body: unknown, extra: Record<string, string> = {}) =>
      fetch(`${gw.url}/trpc/${path}`, {
        method: "POST",
        headers: { ...headers, ...extra },
        body: JSON.stringify(body),
      });

    const ok = await call("events.publish", { type: "whole", data: { n: 1 }, to: "me" });
    const okText = await ok.text();
    expect(ok.status).toBe(200);
    expect(ok.headers.get("transfer-encoding")).toBeNull();
    expect(ok.headers.get("content-length")).toBe(String(Buffer.byteLength(okText)));
    expect(ok.headers.get("content-type")).toBe("application/json");
    expect(ok.headers.get("x-content-type-options")).toBe("nosniff");
    expect(ok.headers.get("x-request-id")).toMatch(/./);
    expect((JSON.parse(okText) as { result: { data: { status: string } } }).result.data.status).toBe("published");

    const bad = await call("events.publish", { type: "connected", data: null, to: "me" });
    const badText = await bad.text();
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-length")).toBe(String(Buffer.byteLength(badText)));
    expect((JSON.parse(badText) as { error: { data: { code: string } } }).error.data.code).toBe("BAD_REQUEST");

    const streamed = await call(
      "events.publish?batch=1",
      { 0: { type: "streamed", data: null, to: "me" } },
      { "trpc-accept": "application/jsonl" },
    );
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("transfer-encoding")).toBe("chunked");
    expect(streamed.headers.get("content-length")).toBeNull();
    expect(await streamed.text()).toContain('"status":"published"');
    expect(gw.app.bus.head()).toBe(2);
  });
});

describe("events.stream", () => {
  it("yields the same envelopes and ids as the raw route, and both resume across server-side reconnects", async () => {
    const gw = await gateway({ SSE_MAX_CONNECTION_MS: "1500", SSE_HEARTBEAT_MS: "500" });
    const token = await gw.token({ sub: "u1", tenantId: "t1", roles: ["admin"] });
    const trpc = client(gw, token);

    const viaTrpc = collector();
    const states: string[] = [];
    const subscription = trpc.events.stream.subscribe(undefined, {
      onData: tracked(({ id, data }) => {
        expect(data.id).toBe(id);
        viaTrpc.push({ id, type: data.type, data: data.data });
      }),
      onConnectionStateChange: (state) => states.push(state.state),
    });
    cleanups.push(() => subscription.unsubscribe());

    const viaRaw = collector();
    const rawSource = new EventSource(`${gw.url}/events/stream`, {
      fetch: (input, init) =>
        fetch(input, { ...init, headers: { ...(init?.headers ?? {}), authorization: `Bearer ${token}` } }),
    });
    cleanups.push(() => rawSource.close());
    let rawOpens = 0;
    rawSource.addEventListener("connected", () => rawOpens++);
    const onRaw = (e: MessageEvent) => viaRaw.push({ id: e.lastEventId, type: e.type, data: JSON.parse(e.data).data });
    rawSource.addEventListener("n", onRaw);
    rawSource.addEventListener("reset", onRaw);
    await expect.poll(() => gw.app.hub.connectionCount).toBe(2);

    const ids: string[] = [];
    const publish = async (from: number, to: number) => {
      for (let n = from; n <= to; n++) {
        const target = n % 3 === 0 ? "tenant" : "me";
        ids.push((await trpc.events.publish.mutate({ type: "n", data: { n }, to: target })).id as string);
      }
    };
    await publish(1, 5);
    await viaTrpc.waitFor(() => viaTrpc.items.length === 5);
    await viaRaw.waitFor(() => viaRaw.items.length === 5);

    // Both streams are ended by the server after SSE_MAX_CONNECTION_MS; publish while they are away.
    await expect.poll(() => gw.app.hub.connectionCount, { timeout: 5000 }).toBeLessThan(2);
    await publish(6, 10);
    await expect.poll(() => rawOpens, { timeout: 8000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => states.filter((s) => s === "connecting").length, { timeout: 8000 }).toBeGreaterThan(0);
    await publish(11, 15);

    await viaTrpc.waitFor(() => viaTrpc.items.length >= 15);
    await viaRaw.waitFor(() => viaRaw.items.length >= 15);
    const expected = ids.map((id, i) => ({ id, type: "n", data: { n: i + 1 } }));
    expect(viaTrpc.items).toEqual(expected);
    expect(viaRaw.items).toEqual(expected);
  });

  it("accepts a Bearer access token in the header and filters by types", async () => {
    const gw = await gateway();
    const token = await gw.token({ sub: "u9" });
    const trpc = createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({
            url: `${gw.url}/trpc`,
            EventSource,
            eventSourceOptions: {
              fetch: (input, init) =>
                fetch(input, { ...init, headers: { ...(init?.headers ?? {}), authorization: `Bearer ${token}` } }),
            },
          }),
          false: httpBatchLink({ url: `${gw.url}/trpc`, headers: { authorization: `Bearer ${token}` } }),
        }),
      ],
    });
    const seen = collector();
    const sub = trpc.events.stream.subscribe(
      { types: ["keep"] },
      { onData: tracked(({ id, data }) => seen.push({ id, type: data.type, data: data.data })) },
    );
    cleanups.push(() => sub.unsubscribe());
    await expect.poll(() => gw.app.hub.connectionCount).toBe(1);
    await trpc.events.publish.mutate({ type: "drop", data: 1, to: "me" });
    const keep = await trpc.events.publish.mutate({ type: "keep", data: 2, to: "me" });
    await seen.waitFor(() => seen.items.length === 1);
    expect(seen.items).toEqual([{ id: keep.id, type: "keep", data: 2 }]);
  });

  it("sends a reset envelope as tracked data for an unservable lastEventId", async () => {
    const gw = await gateway();
    const token = await gw.token();
    const trpc = client(gw, token);
    await trpc.events.publish.mutate({ type: "n", data: 1, to: "me" });
    const seen = collector();
    const sub = trpc.events.stream.subscribe(
      { lastEventId: "0000-1" },
      { onData: tracked(({ id, data }) => seen.push({ id, type: data.type, data: data.data })) },
    );
    cleanups.push(() => sub.unsubscribe());
    await seen.waitFor(() => seen.items.length === 1);
    expect(seen.items[0]).toEqual({
      id: `${gw.app.bus.epoch}-1`,
      type: "reset",
      data: { reason: "epoch-changed", lastEventId: "0000-1" },
    });
  });

  it("counts tRPC and raw streams together against MAX_CONNECTIONS_PER_USER and answers 429 before streaming", async () => {
    const gw = await gateway({ MAX_CONNECTIONS_PER_USER: "2" });
    const token = await gw.token();
    const raw = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
    const trpc = await SseClient.open(`${gw.url}/trpc/events.stream`, { authorization: `Bearer ${token}` });
    cleanups.push(
      () => raw.close(),
      () => trpc.close(),
    );
    expect([raw.status, trpc.status]).toEqual([200, 200]);
    const third = await SseClient.open(`${gw.url}/trpc/events.stream`, { authorization: `Bearer ${token}` });
    expect(third.status).toBe(429);
    expect(third.res.headers["retry-after"]).toBeDefined();
    const unauthenticated = await SseClient.open(`${gw.url}/trpc/events.stream`);
    expect(unauthenticated.status).toBe(401);
  });
});
