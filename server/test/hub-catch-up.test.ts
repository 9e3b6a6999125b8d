import type { StreamKey } from "@circl-bff/shared";
import { describe, expect, it } from "vitest";
import { MemoryBus } from "../src/bus/memory-bus.js";
import { formatEventId } from "../src/bus/position.js";
import { createMetrics } from "../src/metrics.js";
import { Hub } from "../src/stream/hub.js";
import { RecordingSink } from "./helpers/recording-sink.js";

/** A user of tenant `t1` with a token that carries no id. */
const owner = (userId: string) => ({ tenantId: "t1", userId, tokenIds: [], iat: 0 });

/** An in-process bus with an event `first` and `behind` more events on `key`, and a hub over it. */
async function hubBehind(key: StreamKey, behind: number) {
  const bus = new MemoryBus({ historySize: behind + 1000 });
  const first = await bus.publish(key, { type: "n", data: 0 });
  if (first.status === "queued") throw new Error("the in-process bus never queues");
  for (let n = 1; n <= behind; n++) await bus.publish(key, { type: "n", data: n });
  const hub = new Hub(
    bus,
    {
      replayBufferSize: behind + 1000,
      maxPendingBytes: 1 << 30,
      maxConnectionMs: 3_600_000,
      tickMs: 1000,
      lingerMs: 30_000,
    },
    createMetrics(),
  );
  return { bus, hub, first };
}

describe("hub catch-up", () => {
  it("replays a long history from memory in slices, letting the event loop turn in between", async () => {
    const { bus, hub, first } = await hubBehind({ tenant: "t1", user: "u1" }, 4000);
    const sink = new RecordingSink();
    // What the client had been sent at each turn of the event loop while it caught up.
    const turns: number[] = [];
    let caughtUp = false;
    const watch = () => {
      turns.push(sink.delivered);
      if (!caughtUp) setImmediate(watch);
    };
    setImmediate(watch);
    const session = hub.open({ owner: owner("u1"), lastEventId: formatEventId(bus.epoch, first.position.seq), sink });
    await session.ready;
    caughtUp = true;
    expect(sink.delivered).toBe(4000);
    // Other work (new connections, health checks, the sockets' write batches) ran in between.
    expect(turns.filter((n) => n > 0 && n < 4000).length).toBeGreaterThanOrEqual(2);
    hub.close();
    await bus.close();
  });

  it("builds each replayed event's frame once for all the streams resuming together", async () => {
    const { bus, hub, first } = await hubBehind({ tenant: "t1" }, 50);
    const lastEventId = formatEventId(bus.epoch, first.position.seq);
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    const sessions = sinks.map((sink, i) => hub.open({ owner: owner(`u${i}`), lastEventId, sink }));
    await Promise.all(sessions.map((session) => session.ready));
    const [a, b, c] = sinks.map((sink) => sink.events);
    expect(a?.map((e) => e.envelope.data)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    for (const other of [b, c]) {
      expect(other).toHaveLength(50);
      for (const [i, event] of (other ?? []).entries()) expect(event.frame).toBe(a?.[i]?.frame);
    }
    hub.close();
    await bus.close();
  });
});
