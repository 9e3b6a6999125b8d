import { describe, expect, it } from "vitest";
import { eventually, natsSuite, restartNats } from "./helpers/nats-suite.js";
import { SseClient } from "./helpers/sse-client.js";

const suite = natsSuite({ restartAfterEach: true });

describe.skipIf(!suite.available)("auth.revoke while NATS is down", () => {
  it("applies at once on the instance that took it, and on the others when NATS is back", {
    timeout: 40_000,
  }, async () => {
    const [a, b] = [await suite.gateway(), await suite.gateway()];
    const victim = await a.token({ sub: "mallory", tenantId: "t1" });
    const admin = await a.token({ sub: "root", tenantId: "t1", roles: ["admin"] });
    const onA = await suite.stream(a, victim);
    const onB = await suite.stream(b, victim);

    await suite.nats.server.stop();
    await eventually(async () => (await fetch(`${a.url}/ready`)).status === 503, 10_000, "A not ready");
    const res = await fetch(`${a.url}/trpc/auth.revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: "mallory" }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: { data: { broadcast: boolean } } }).result.data.broadcast).toBe(false);
    await onA.waitForEnd(3000);
    expect((await SseClient.open(`${a.url}/events/stream`, { authorization: `Bearer ${victim}` })).status).toBe(401);
    expect(onB.ended).toBe(false);

    await restartNats(suite.nats);
    await onB.waitForEnd(15_000);
    const again = await SseClient.open(`${b.url}/events/stream`, { authorization: `Bearer ${victim}` });
    expect(again.status).toBe(401);
  });
});
