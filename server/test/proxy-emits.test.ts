import { createTRPCClient, httpBatchLink } from "@trpc/client";
import { afterEach, describe, expect, it } from "vitest";
import type { AppRouter } from "../src/app.js";
import { type DemoUpstream, startDemoUpstream } from "../src/demo-upstream/demo-upstream.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { SseClient } from "./helpers/sse-client.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<{ upstream: DemoUpstream; gw: Gateway }> {
  const upstream = await startDemoUpstream();
  cleanups.push(() => upstream.close());
  const gw = await startGateway({ UPSTREAM_URL: upstream.url.href });
  cleanups.push(() => gw.close());
  return { upstream, gw };
}

function client(gw: Gateway, token: string) {
  return createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: `${gw.url}/trpc`, headers: { authorization: `Bearer ${token}` } })],
  });
}

async function stream(gw: Gateway, token: string): Promise<SseClient> {
  const sse = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
  cleanups.push(() => sse.close());
  expect(sse.status).toBe(200);
  await sse.waitForEvent("connected");
  return sse;
}

type Envelope = { id: string; type: string; data: unknown; tenantId: string; userId?: string; correlationId?: string };

describe("proxy.* mutations announce their change as a catalog event", () => {
  it("createTodo, updateTodo and deleteTodo reach every stream of the tenant as todo.changed, and no other tenant's", async () => {
    const { gw } = await setup();
    // Alice calls; Bob (same tenant, no role) and Dave (another tenant) only listen.
    const alice = client(gw, await gw.token({ sub: "alice", tenantId: "acme" }));
    const bob = await stream(gw, await gw.token({ sub: "bob", tenantId: "acme" }));
    const dave = await stream(gw, await gw.token({ sub: "dave", tenantId: "globex" }));

    const created = await alice.proxy.createTodo.mutate({ body: { title: "ship the demo" } });
    await bob.waitForEvent("todo.changed", 1);
    const [first] = bob.envelopes<Envelope>();
    expect(first).toMatchObject({
      type: "todo.changed",
      tenantId: "acme",
      data: { change: "created", todo: created },
    });
    expect(first?.userId).toBeUndefined();
    expect(created).toMatchObject({ title: "ship the demo", createdBy: "alice", done: false });

    const updated = await alice.proxy.updateTodo.mutate({ params: { id: created.id }, body: { done: true } });
    await alice.proxy.deleteTodo.mutate({ params: { id: created.id } });
    await bob.waitForEvent("todo.changed", 3);
    expect(bob.envelopes<Envelope>().map((e) => e.data)).toEqual([
      { change: "created", todo: created },
      { change: "updated", todo: { ...created, done: true } },
      { change: "deleted", id: created.id },
    ]);
    expect(updated.done).toBe(true);

    // A read publishes nothing; a failed mutation (404 upstream) publishes nothing.
    await alice.proxy.listTodos.query();
    await expect(alice.proxy.deleteTodo.mutate({ params: { id: created.id } })).rejects.toThrow();

    // Dave's stream is live (a marker of his own arrives), yet it never saw acme's changes;
    // and Bob got nothing after the three changes, the marker of acme included.
    const daveToken = await gw.token({ sub: "dave", tenantId: "globex" });
    const marker = await gw.publish(daveToken, { type: "demo.message", data: { text: "marker" }, to: "me" });
    await dave.waitFor(() => dave.envelopes<Envelope>().some((e) => e.id === marker.id), 5000, "dave's marker");
    expect(dave.envelopes<Envelope>().map((e) => e.type)).toEqual(["demo.message"]);
    const bobToken = await gw.token({ sub: "bob", tenantId: "acme" });
    const bobMarker = await gw.publish(bobToken, { type: "demo.message", data: { text: "marker" }, to: "me" });
    await bob.waitFor(() => bob.envelopes<Envelope>().some((e) => e.id === bobMarker.id), 5000, "bob's marker");
    expect(bob.envelopes<Envelope>().map((e) => e.type)).toEqual([
      "todo.changed",
      "todo.changed",
      "todo.changed",
      "demo.message",
    ]);
  });

  it("an idempotent replay of a mutation answers again but announces the change once", async () => {
    const { gw } = await setup();
    const alice = client(gw, await gw.token({ sub: "alice", tenantId: "acme" }));
    const bob = await stream(gw, await gw.token({ sub: "bob", tenantId: "acme" }));

    const input = { body: { title: "once" }, idempotencyKey: "create-once-1" };
    const first = await alice.proxy.createTodo.mutate(input);
    const again = await alice.proxy.createTodo.mutate(input);
    expect(again).toEqual(first);
    const bobToken = await gw.token({ sub: "bob", tenantId: "acme" });
    const marker = await gw.publish(bobToken, { type: "demo.message", data: { text: "marker" }, to: "me" });
    await bob.waitFor(() => bob.envelopes<Envelope>().some((e) => e.id === marker.id), 5000, "bob's marker");
    expect(bob.envelopes<Envelope>().filter((e) => e.type === "todo.changed")).toEqual([
      expect.objectContaining({ data: { change: "created", todo: first } }),
    ]);
  });
});
