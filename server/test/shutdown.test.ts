import { describe, expect, it } from "vitest";
import { startGateway } from "./helpers/gateway.js";
import { GatewayProcess } from "./helpers/gateway-process.js";
import { trackHandles } from "./helpers/leak-check.js";
import { RecordingUpstream } from "./helpers/recording-upstream.js";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken } from "./helpers/tokens.js";

describe("app.close()", () => {
  it("ends every open stream, raw and tRPC, and leaves no handle behind", async () => {
    const handles = trackHandles();
    const gw = await startGateway();
    const token = await gw.token();
    const raw = [];
    for (let i = 0; i < 3; i++) {
      const client = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
      await client.waitForEvent("connected");
      raw.push(client);
    }
    const trpc = await SseClient.open(`${gw.url}/trpc/events.stream`, { authorization: `Bearer ${token}` });
    await trpc.waitForEvent("connected");
    await expect.poll(() => gw.app.hub.connectionCount).toBe(4);

    await gw.close();
    for (const client of [...raw, trpc]) await client.waitForEnd(3000);
    expect(gw.app.hub.connectionCount).toBe(0);

    // Every socket, server and timer the app opened is gone.
    await expect.poll(() => handles.open(), { timeout: 3000 }).toEqual([]);
    handles.stop();
  });
});

describe("SIGTERM", () => {
  it("lets requests in flight finish before the process exits, and ends streams at once", {
    timeout: 30_000,
  }, async () => {
    const upstream = await RecordingUpstream.start((_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"slow":true}'), 800);
    });
    const gw = await GatewayProcess.start({ UPSTREAM_URL: upstream.url });
    try {
      const token = await accessToken({ sub: "u1", tenantId: "t1" });
      const stream = await SseClient.open(`${gw.url}/events/stream`, { authorization: `Bearer ${token}` });
      await stream.waitForEvent("connected");
      const calls = Array.from({ length: 8 }, () =>
        fetch(`${gw.url}/api/slow`, { headers: { authorization: `Bearer ${token}` } }).then(
          async (res) => ({ status: res.status, body: await res.text() }),
          (error: unknown) => ({ status: 0, body: String(error) }),
        ),
      );
      await expect.poll(() => upstream.requests.length).toBe(8);
      await gw.kill("SIGTERM");
      const answers = await Promise.all(calls);
      expect(answers).toEqual(Array.from({ length: 8 }, () => ({ status: 200, body: '{"slow":true}' })));
      expect(stream.ended).toBe(true);
    } finally {
      await gw.kill("SIGKILL");
      await upstream.close();
    }
  });
});
