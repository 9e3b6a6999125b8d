import net from "node:net";
import { describe, expect, it } from "vitest";
import { GatewayProcess } from "./helpers/gateway-process.js";

/** Opens `count` idle TCP connections (what a flood of unauthenticated clients holds). */
async function idleSockets(url: string, count: number): Promise<net.Socket[]> {
  const { hostname, port } = new URL(url);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect(Number(port), hostname);
    socket.on("error", () => undefined);
    await new Promise<void>((resolve) => {
      socket.once("connect", () => resolve());
      socket.once("close", () => resolve());
    });
    sockets.push(socket);
  }
  return sockets;
}

describe("a flood of idle connections", () => {
  it("is capped below the descriptor limit: surplus sockets are closed and counted, the process lives on", async () => {
    const gw = await GatewayProcess.start({}, { openFilesLimit: 400 });
    try {
      // 0.9 × 400 − 256 = 104 client sockets at most; 600 would exhaust the 400 descriptors.
      const flood = await idleSockets(gw.url, 600);
      // With the flood held open, let the timers that crashed the process before run (under-pressure
      // samples every second): nothing to await but the absence of a crash.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(gw.exitCode).toBeUndefined();
      for (const socket of flood) socket.destroy();
      const health = await fetch(`${gw.url}/health`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      const dropped = Number(/^http_sockets_dropped_total (\d+)/m.exec(metrics)?.[1]);
      expect(dropped).toBeGreaterThanOrEqual(400);
    } finally {
      await gw.kill("SIGKILL");
    }
  });
});
