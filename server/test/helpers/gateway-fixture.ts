import { afterEach } from "vitest";
import type { AppDeps } from "../../src/app.js";
import { type Gateway, startGateway } from "./gateway.js";
import { SseClient } from "./sse-client.js";

export type StreamOptions = { query?: string; headers?: Record<string, string>; lastEventId?: string };

/**
 * The gateways and raw streams one test file opens, all closed after each test (the fixture
 * registers its own `afterEach`).
 */
export function gatewayFixture() {
  const gateways: Gateway[] = [];
  const streams: SseClient[] = [];
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await Promise.all(gateways.splice(0).map((gw) => gw.close()));
  });
  return {
    async gateway(env: Record<string, string> = {}, deps: AppDeps = {}): Promise<Gateway> {
      const gw = await startGateway(env, deps);
      gateways.push(gw);
      return gw;
    },
    /** `GET /events/stream` with a Bearer token; resolves on the response head, whatever its status. */
    async openStream(gw: Gateway, token: string, options: StreamOptions = {}): Promise<SseClient> {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...options.headers };
      if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
      const client = await SseClient.open(`${gw.url}/events/stream${options.query ?? ""}`, headers);
      streams.push(client);
      return client;
    },
    /** Closes `client` with the others after the test. */
    track(client: SseClient): SseClient {
      streams.push(client);
      return client;
    },
  };
}
