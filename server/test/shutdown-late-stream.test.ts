import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { startGateway } from "./helpers/gateway.js";
import { RecordingUpstream } from "./helpers/recording-upstream.js";
import { SseClient } from "./helpers/sse-client.js";

describe("a stream whose request arrived before the shutdown and that opens after it", () => {
  it("is ended like the others, so app.close() does not wait for it", async () => {
    // The topic check is held until the close has begun: the stream opens after `hub.close()`.
    let answer: ((res: ServerResponse) => void) | undefined;
    const held = new Promise<ServerResponse>((resolve) => {
      answer = resolve;
    });
    const topicAuth = await RecordingUpstream.start((_req, res) => answer?.(res));
    const gw = await startGateway({ TOPIC_AUTH_URL: `${topicAuth.url}/topics` });
    try {
      const token = await gw.token({ sub: "u1", tenantId: "t1" });
      const opening = SseClient.open(`${gw.url}/events/stream?topics=late`, { authorization: `Bearer ${token}` });
      const res = await held;
      const closing = gw.close();
      res.writeHead(200, { "content-type": "application/json" }).end('{"allowed":["late"]}');
      const client = await opening;
      expect(client.status).toBe(200);
      await client.waitForEnd(3000);
      const closed = await Promise.race([
        closing.then(() => "closed"),
        new Promise((resolve) => setTimeout(resolve, 3000, "still open after 3 s")),
      ]);
      expect(closed).toBe("closed");
      expect(gw.app.hub.connectionCount).toBe(0);
    } finally {
      await topicAuth.close();
    }
  });
});
