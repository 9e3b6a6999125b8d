import { describe, expect, it } from "vitest";
import { MemoryBus } from "../src/bus/memory-bus.js";
import { formatEventId } from "../src/bus/position.js";
import { createMetrics } from "../src/metrics.js";
import { Hub } from "../src/stream/hub.js";
import type { StreamSink } from "../src/stream/stream-sink.js";

/** A client that takes everything at once (never a reason to wait), counting what it got. */
class CountingSink implements StreamSink {
  readonly transport = "raw";
  delivered = 0;
  start(): void {}
  deliver(): void {
    this.delivered++;
  }
  pendingBytes(): number {
    return 0;
  }
  waitForRoom(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {}
}

describe("hub catch-up", () => {
  it("replays a long history from memory in slices, letting the event loop turn in between", async () => {
    const bus = new MemoryBus({ historySize: 5000 });
    const key = { tenant: "t1", user: "u1" };
    const first = await bus.publish(key, { type: "n", data: 0 });
    if (first.status === "queued") throw new Error("the in-process bus never queues");
    for (let n = 1; n <= 4000; n++) await bus.publish(key, { type: "n", data: n });
    const hub = new Hub(
      bus,
      { replayBufferSize: 5000, maxPendingBytes: 1 << 30, maxConnectionMs: 3_600_000, tickMs: 1000, lingerMs: 30_000 },
      createMetrics(),
    );
    const sink = new CountingSink();
    // What the client had been sent at each turn of the event loop while it caught up.
    const turns: number[] = [];
    let caughtUp = false;
    const watch = () => {
      turns.push(sink.delivered);
      if (!caughtUp) setImmediate(watch);
    };
    setImmediate(watch);
    const session = hub.open({
      tenantId: "t1",
      userId: "u1",
      lastEventId: formatEventId(bus.epoch, first.position.seq),
      sink,
    });
    await session.ready;
    caughtUp = true;
    expect(sink.delivered).toBe(4000);
    // Other work (new connections, health checks, the sockets' write batches) ran in between.
    expect(turns.filter((n) => n > 0 && n < 4000).length).toBeGreaterThanOrEqual(2);
    hub.close();
    await bus.close();
  });
});
