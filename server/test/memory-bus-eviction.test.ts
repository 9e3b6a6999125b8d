import type { StreamKey } from "@circl-bff/shared";
import { describe, expect, it } from "vitest";
import { type BusEvent, isGap } from "../src/bus/event-bus.js";
import { MemoryBus } from "../src/bus/memory-bus.js";
import { formatEventId } from "../src/bus/position.js";
import { createMetrics } from "../src/metrics.js";
import { Hub } from "../src/stream/hub.js";
import { RecordingSink } from "./helpers/recording-sink.js";

const alice: StreamKey = { tenant: "t1", user: "alice" };
const bob: StreamKey = { tenant: "t1", user: "bob" };
const carol: StreamKey = { tenant: "t1", user: "carol" };

async function seqs(bus: MemoryBus, keys: StreamKey[], after: number): Promise<number[] | string> {
  const backlog = await bus.readAfter(keys, after, bus.head());
  if (isGap(backlog)) return `gap: ${backlog.gap}`;
  const out: number[] = [];
  for await (const event of backlog as AsyncIterable<BusEvent>) out.push(event.seq);
  return out;
}

// The in-process bus keeps history for at most `maxKeys` keys and drops the least recently
// written one beyond that. What went with a dropped key can no longer be replayed: a reader who
// asks for it must learn so (a gap, then `reset`), not receive the other keys' events as if
// nothing were missing.
describe("the in-process bus with more keys than it keeps", () => {
  it("answers a read from before a key was dropped with a gap, and keeps serving what it still holds", async () => {
    const bus = new MemoryBus({ historySize: 100, maxKeys: 2 });
    await bus.publish(alice, { type: "n", data: 1 }); // seq 1
    await bus.publish(bob, { type: "n", data: 2 }); // seq 2
    await bus.publish(carol, { type: "n", data: 3 }); // seq 3: alice's history is dropped

    expect(await seqs(bus, [alice], 0)).toMatch(/^gap: /);
    // One dropped key among several is enough: the merged backlog would miss its events.
    expect(await seqs(bus, [bob, alice], 0)).toMatch(/^gap: /);
    // A key still held is complete, and nothing after the drop was lost for anyone.
    expect(await seqs(bus, [bob], 0)).toEqual([2]);
    expect(await seqs(bus, [alice], 3)).toEqual([]);

    await bus.publish(alice, { type: "n", data: 4 }); // seq 4, bob's history is dropped now
    expect(await seqs(bus, [alice], 3)).toEqual([4]);
    expect(await seqs(bus, [alice], 2)).toMatch(/^gap: /);
    expect(await seqs(bus, [bob], 1)).toMatch(/^gap: /);
    await bus.close();
  });

  it("sends a stream resuming from before the drop a reset, then live events, never a silent gap", async () => {
    const bus = new MemoryBus({ historySize: 100, maxKeys: 2 });
    const seen = await bus.publish(alice, { type: "n", data: "seen" });
    if (seen.status === "queued") throw new Error("the in-process bus never queues");
    await bus.publish(alice, { type: "n", data: "missed" });
    await bus.publish({ tenant: "t2" }, { type: "n", data: "other tenant" });
    await bus.publish({ tenant: "t3" }, { type: "n", data: "another tenant" }); // alice's history goes
    const hub = new Hub(
      bus,
      { replayBufferSize: 100, maxPendingBytes: 1 << 20, maxConnectionMs: 3_600_000, tickMs: 1000, lingerMs: 30_000 },
      createMetrics(),
    );
    const sink = new RecordingSink();
    const requested = formatEventId(bus.epoch, seen.position.seq);
    const session = hub.open({
      owner: { tenantId: "t1", userId: "alice", tokenIds: [], iat: 0 },
      lastEventId: requested,
      sink,
    });
    await session.ready;

    expect(sink.resumed).toBe(false);
    expect(sink.events.map((event) => event.envelope)).toEqual([
      expect.objectContaining({
        type: "reset",
        id: formatEventId(bus.epoch, bus.head()),
        data: { reason: "position-expired", lastEventId: requested },
      }),
    ]);
    await bus.publish(alice, { type: "n", data: "live" });
    expect(sink.events.map((event) => event.envelope.data)).toEqual([
      { reason: "position-expired", lastEventId: requested },
      "live",
    ]);
    hub.close();
    await bus.close();
  });
});
