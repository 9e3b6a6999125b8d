import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { SseClient } from "./helpers/sse-client.js";

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** Opens a stream on a raw socket and never reads from it. */
function stalledStream(url: string, token: string, path = "/events/stream"): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

describe("a client that stops reading", () => {
  it("is disconnected once its unsent bytes pass SSE_MAX_PENDING_BYTES; a reading client on the same key gets everything", async () => {
    gw = await startGateway({ SSE_MAX_PENDING_BYTES: "1048576" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const reader = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
    await reader.waitForEvent("connected");
    const stalled = await stalledStream(gw.url, token);
    await expect.poll(() => gw?.app.hub.connectionCount).toBe(2);

    // ~50 MB in 64 KB events, paced by the reading client so only the stalled one falls behind.
    const chunk = "x".repeat(64 * 1024);
    const total = 800;
    for (let n = 1; n <= total; n++) {
      await gw.app.bus.publish({ tenant: "t1", user: "u1" }, { type: "blob", data: { n, chunk } });
      await reader.waitForData(n, 10_000);
    }
    expect(reader.dataEvents()).toHaveLength(total);
    expect(reader.envelopes<{ data: { n: number } }>().map((e) => e.data.n)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    expect(gw.app.hub.connectionCount).toBe(1);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/sse_slow_consumer_disconnects_total\{transport="raw"\} 1/);
    // The server let go of the stalled socket's backlog: its heap stays far below what was sent.
    expect(process.memoryUsage().heapUsed).toBeLessThan(400 * 1024 * 1024);
    reader.close();
    stalled.destroy();
  });

  it("the same holds for a tRPC events.stream client that stops reading", async () => {
    gw = await startGateway({ SSE_MAX_PENDING_BYTES: "1048576" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const reader = await SseClient.open(`${gw.url}/trpc/events.stream`, { authorization: `Bearer ${token}` });
    const stalled = await stalledStream(gw.url, token, "/trpc/events.stream");
    await expect.poll(() => gw?.app.hub.connectionCount).toBe(2);

    const chunk = "x".repeat(64 * 1024);
    const total = 800;
    for (let n = 1; n <= total; n++) {
      await gw.app.bus.publish({ tenant: "t1", user: "u1" }, { type: "blob", data: { n, chunk } });
      await reader.waitFor(() => reader.events.filter((e) => e.id !== undefined && e.id !== "").length >= n, 10_000);
    }
    const received = reader.events
      .filter((e) => e.id !== undefined && e.id !== "")
      .map((e) => JSON.parse(e.data).data.n);
    expect(received).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(gw.app.hub.connectionCount).toBe(1);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/sse_slow_consumer_disconnects_total\{transport="trpc"\} 1/);
    reader.close();
    stalled.destroy();
  });
});
