import { describe, expect, it } from "vitest";
import { natsSuite } from "./helpers/nats-suite.js";

const suite = natsSuite();

describe.skipIf(!suite.available)("a stream that does not answer publishes for a while", () => {
  it("queues them (JetStream's 'no responders', what a leader election answers), never a 500 or a dead letter, and stores them once it answers again", async () => {
    const gw = await suite.gateway({ NATS_PUBLISH_MAX_ATTEMPTS: "1000" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const client = await suite.stream(gw, token);
    const { jsm } = suite.nats;
    const config = (await jsm.streams.info("EVENTS")).config;
    // Nothing answers on `events.>` now: a JetStream publish gets "no responders".
    await jsm.streams.update("EVENTS", { ...config, subjects: ["parked.>"] });

    const answers = [];
    for (let i = 1; i <= 3; i++) {
      const res = await fetch(`${gw.url}/events/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "n", data: i, to: "me" }),
      });
      answers.push({ status: res.status, body: (await res.json()) as { status?: string } });
    }
    expect(answers.map((a) => [a.status, a.body.status])).toEqual([
      [200, "queued"],
      [200, "queued"],
      [200, "queued"],
    ]);

    await jsm.streams.update("EVENTS", { ...config, subjects: ["events.>"] });
    await client.waitForData(3, 20_000);
    expect(client.envelopes().map((e) => e.data)).toEqual([1, 2, 3]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^publish_dead_letters_total [1-9]/m);
  });
});
