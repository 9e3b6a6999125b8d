import { describe, expect, it } from "vitest";
import { eventually, natsSuite, restartNats } from "./helpers/nats-suite.js";

const suite = natsSuite({ restartAfterEach: true });

describe.skipIf(!suite.available)("live delivery after a NATS restart", () => {
  it("resumes within seconds while events keep coming: every event once, in order", {
    timeout: 60_000,
  }, async () => {
    const gw = await suite.gateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await suite.stream(gw, token);
    let sent = 0;
    let publishing = true;
    const ids: string[] = [];
    // A publisher every 30 ms through the gateway, through the outage and after it.
    const publisher = (async () => {
      while (publishing) {
        const res = await fetch(`${gw.url}/events/publish`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "n", data: ++sent, to: "me" }),
        }).catch(() => undefined);
        if (res !== undefined) {
          const body = (await res.json()) as { id?: string };
          if (body.id !== undefined) ids.push(body.id);
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();
    await client.waitForData(20, 10_000);
    await suite.nats.server.stop();
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the outage itself (the scenario)
    await restartNats(suite.nats);
    // Every event published from now on arrives within seconds, not after a 40 s stall.
    await eventually(async () => (await fetch(`${gw.url}/ready`)).status === 200, 15_000, "ready again");
    const mark = sent;
    await client.waitFor(
      () => client.envelopes().some((e) => (e.data as number) >= mark + 100),
      10_000,
      "events after the restart",
    );
    publishing = false;
    await publisher;
    await client.waitForData(sent, 15_000);
    const received = client.envelopes().map((e) => e.data as number);
    expect(received).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(new Set(client.envelopes().map((e) => e.id)).size).toBe(sent);
  });
});
