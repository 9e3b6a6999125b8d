import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { sseStreamProducer, tracked } from "@trpc/server/unstable-core-do-not-import";
import { afterEach, describe, expect, it } from "vitest";
import type { StreamEvent } from "../src/stream/stream-event.js";
import { toConnectedEvent, toPresenceEvent, toResetEvent, toStreamEvent } from "../src/stream/stream-event.js";
import { TrpcSocketSink } from "../src/stream/trpc-socket-sink.js";
import { trpcConnectedFrame } from "../src/stream/trpc-wire.js";
import { trpcSseOptions } from "../src/trpc/stream-options.js";

const HEARTBEAT_MS = 15_000;
const sse = trpcSseOptions(HEARTBEAT_MS);
const NOW = Date.parse("2026-12-03T10:00:00.000Z");

function busEvent(seq: number, key: { tenant: string; user?: string; topic?: string }, data: unknown) {
  return toStreamEvent("ep1", { seq, key, type: "demo.message", data, timestamp: new Date(NOW + seq).toISOString() });
}

/** A stream's items after `connected`: tracked events, presence (untracked) and a reset. */
function items(): StreamEvent[] {
  return [
    busEvent(1, { tenant: "t1" }, { text: 'hello, "tenant"\nüñí' }),
    toPresenceEvent("t1", "join", { topic: "room:1", userId: "bob" }, NOW),
    busEvent(2, { tenant: "t1", user: "alice" }, { text: "personal" }),
    toResetEvent("ep1", 2, { tenant: "t1", user: "alice" }, "unknown-id", "ep1-99", NOW),
    busEvent(3, { tenant: "t1", topic: "room:1" }, { nested: { a: [1, 2, null] } }),
    toPresenceEvent("t1", "leave", { topic: "room:1", userId: "bob" }, NOW),
  ];
}

/** What tRPC's own producer writes for the procedure yielding these items (router.ts's `events.stream`). */
async function trpcBytes(events: StreamEvent[], lastEventId: string | null, pingFirst = false): Promise<string> {
  async function* data() {
    if (pingFirst) await new Promise(() => {}); // never yields: the producer pings
    for (const event of events) {
      if (event.untracked === true) yield event.envelope;
      else yield tracked(event.envelope.id, event.envelope);
    }
  }
  const stream = sseStreamProducer({
    ...sse,
    ping: pingFirst ? { enabled: true, intervalMs: 1 } : sse.ping,
    lastEventId,
    data: data(),
    serialize: (v: unknown) => v,
  });
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    // Stop at tRPC's `return` event (the generator ended) or after its first ping.
    if (text.endsWith("event: return\ndata: \n\n\n")) return text.slice(0, -"event: return\ndata: \n\n\n".length);
    if (pingFirst && text.includes("event: ping\ndata: \n\n\n")) {
      await reader.cancel();
      return text;
    }
  }
  return text;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** What the route's sink writes for the same items, read over a real socket. */
async function sinkBytes(events: StreamEvent[], lastEventId: string | undefined, ping = false): Promise<string> {
  server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    const sink = new TrpcSocketSink(
      res,
      "client-1",
      { retryMs: 0, heartbeatMs: HEARTBEAT_MS, now: () => NOW },
      { tenantId: "t1", userId: "alice" },
      trpcConnectedFrame(sse.client),
      lastEventId,
    );
    if (ping) sink.tick(NOW + HEARTBEAT_MS);
    else {
      sink.start(false);
      for (const event of events) sink.deliver(event);
    }
    setImmediate(() => sink.end("shutdown"));
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return (await fetch(`http://127.0.0.1:${port}/`)).text();
}

describe("events.stream's route writes tRPC's wire format byte for byte", () => {
  const connected = () => toConnectedEvent("t1", "alice", { clientId: "client-1", resumed: false }, NOW);

  it("a fresh stream: connected, tracked events, untracked presence, a reset", async () => {
    const expected = await trpcBytes([connected(), ...items()], null);
    expect(expected).toContain("id: ep1-3\n\n\n");
    expect(await sinkBytes(items(), undefined)).toBe(expected);
  });

  it("a resumed stream: untracked items clear the id, then restore it", async () => {
    const expected = await trpcBytes([connected(), ...items()], "ep1-0");
    expect(expected).toContain("event: restore-id\ndata: \nid: ep1-0\n\n\n");
    expect(await sinkBytes(items(), "ep1-0")).toBe(expected);
  });

  it("a Last-Event-ID tRPC ignores (a line break in it) is ignored the same way", async () => {
    expect(await sinkBytes(items(), "ep1-0\nx")).toBe(await trpcBytes([connected(), ...items()], "ep1-0\nx"));
  });

  it("the heartbeat is tRPC's ping event", async () => {
    const expected = await trpcBytes([], null, true);
    expect(await sinkBytes([], undefined, true)).toBe(expected);
  });
});
