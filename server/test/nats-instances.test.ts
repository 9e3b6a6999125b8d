import { describe, expect, it } from "vitest";
import { GatewayProcess } from "./helpers/gateway-process.js";
import { natsSuite } from "./helpers/nats-suite.js";
import { accessToken } from "./helpers/tokens.js";

const suite = natsSuite();
const { available, stream } = suite;

async function instance(): Promise<GatewayProcess> {
  const gw = await GatewayProcess.start({ NATS_URL: suite.nats.server.url, REPLAY_BUFFER_SIZE: "1000" });
  suite.closeAfter(() => gw.kill("SIGTERM"));
  return gw;
}

describe.skipIf(!available)("two gateway processes on one NATS", () => {
  it("a client of a killed instance resumes on the other with exactly the events it missed, then live", async () => {
    const [a, b] = [await instance(), await instance()];
    const alice = await accessToken({ sub: "alice", tenantId: "acme" });
    const bob = await accessToken({ sub: "bob", tenantId: "acme" });

    const onA = await stream(a, alice);
    const published = [];
    for (let i = 1; i <= 5; i++) published.push(await b.publish(alice, { type: "n", data: i, to: "me" }));
    await onA.waitForData(5);
    expect(onA.envelopes().map((e) => [e.id, e.data])).toEqual(published.map((p, i) => [p.id, i + 1]));
    const lastId = onA.envelopes().at(-1)?.id as string;

    await a.kill("SIGKILL");
    expect(a.exitCode).toBeNull(); // killed by the signal
    for (let i = 6; i <= 10; i++) published.push(await b.publish(alice, { type: "n", data: i, to: "me" }));
    // Bob's stream on B sees a later event only once B's live consumer has passed 6–10.
    const witness = await stream(b, bob);
    await b.publish(bob, { type: "marker", to: "me" });
    await witness.waitForData(1);

    const onB = await stream(b, alice, { "last-event-id": lastId });
    await onB.waitForData(5);
    const connected = JSON.parse(onB.events.find((e) => e.event === "connected")?.data ?? "{}");
    expect(connected.resumed).toBe(true);
    expect(onB.envelopes().map((e) => [e.id, e.data])).toEqual(published.slice(5).map((p, i) => [p.id, i + 6]));
    const live = await b.publish(alice, { type: "n", data: 11, to: "me" });
    await onB.waitForData(6);
    expect(onB.envelopes().map((e) => e.data)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(onB.envelopes().at(-1)?.id).toBe(live.id);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/^replay_events_total\{source="jetstream"\} 5$/m);
  });

  it("publishes an idempotencyKey sent to A and then to B once", async () => {
    const [a, b] = [await instance(), await instance()];
    const token = await accessToken({ sub: "u1", tenantId: "t1" });
    const first = await a.publish(token, { type: "pay", data: { amount: 5 }, to: "me", idempotencyKey: "pay-42" });
    const second = await b.publish(token, { type: "pay", data: { amount: 5 }, to: "me", idempotencyKey: "pay-42" });
    expect(first.status).toBe("published");
    expect(second).toMatchObject({ status: "duplicate", id: first.id });
    expect((await suite.nats.jsm.streams.info("EVENTS")).state.messages).toBe(1);
  });

  it("exits with status 1 when its stream is deleted, so a restart adopts the new stream", async () => {
    const a = await instance();
    const token = await accessToken({ sub: "u1", tenantId: "t1" });
    await a.publish(token, { type: "n", to: "me" });
    await suite.nats.jsm.streams.delete("EVENTS");
    await a.waitForExit();
    expect(a.exitCode).toBe(1);
    expect(a.log).toMatch(/stream was deleted or replaced/);
  });
});
