import { describe, expect, it } from "vitest";
import { startGateway } from "./helpers/gateway.js";
import { trackHandles } from "./helpers/leak-check.js";
import { SseClient } from "./helpers/sse-client.js";

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
