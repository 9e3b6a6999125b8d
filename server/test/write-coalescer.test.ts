import { setImmediate as endOfTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { Identity } from "../src/auth/identity.js";
import { TopicGrants } from "../src/auth/topic-grants.js";
import { MemoryBus } from "../src/bus/memory-bus.js";
import { createMetrics } from "../src/metrics.js";
import { createEventPublisher } from "../src/stream/event-publisher.js";
import { Hub } from "../src/stream/hub.js";
import { openRequest } from "../src/stream/open-request.js";
import { type Flushable, flushIfIdle, flushSoon } from "../src/stream/write-coalescer.js";
import { RecordingSink } from "./helpers/recording-sink.js";

/** A target that records when it was flushed. */
function target(name: string, log: string[]): Flushable {
  return { flush: () => log.push(name) };
}

/** Lets a turn that writes nothing pass, after which the coalescer counts as idle. */
async function quiet(): Promise<void> {
  await endOfTurn();
  await endOfTurn();
}

describe("write coalescer", () => {
  it("writes what a turn queued once, at the end of the turn", async () => {
    await quiet();
    const log: string[] = [];
    flushSoon(target("a", log));
    flushSoon(target("b", log));
    expect(log).toEqual([]);
    await endOfTurn();
    expect(log).toEqual(["a", "b"]);
  });

  it("writes at once only after a turn with nothing to write, and coalesces the rest of a busy spell", async () => {
    await quiet();
    const log: string[] = [];
    flushSoon(target("first", log));
    flushIfIdle();
    expect(log).toEqual(["first"]);
    // The same turn again: it has written already, so the next frames wait for its end.
    flushSoon(target("second", log));
    flushIfIdle();
    expect(log).toEqual(["first"]);
    await endOfTurn();
    expect(log).toEqual(["first", "second"]);
    // The turn before wrote: still busy.
    flushSoon(target("third", log));
    flushIfIdle();
    expect(log).toEqual(["first", "second"]);
    await endOfTurn();
    expect(log).toEqual(["first", "second", "third"]);
    await quiet();
    flushSoon(target("fourth", log));
    flushIfIdle();
    expect(log).toEqual(["first", "second", "third", "fourth"]);
    await endOfTurn();
    expect(log).toEqual(["first", "second", "third", "fourth"]);
  });

  it("has nothing to do when nothing is due", async () => {
    await quiet();
    const log: string[] = [];
    flushIfIdle();
    // Still idle: the next event after this no-op goes at once.
    flushSoon(target("late", log));
    flushIfIdle();
    expect(log).toEqual(["late"]);
  });

  /** A hub on the in-process bus whose one stream queues each delivered frame as a raw sink does. */
  async function hubWithStream(flushWhenIdle: boolean) {
    const bus = new MemoryBus({ historySize: 10 });
    const hub = new Hub(
      bus,
      {
        replayBufferSize: 10,
        maxPendingBytes: 1 << 20,
        maxConnectionMs: 60_000,
        tickMs: 1000,
        lingerMs: 1000,
        flushWhenIdle,
      },
      createMetrics(),
    );
    const publish = createEventPublisher(bus, createMetrics(), new TopicGrants({ cacheS: 0, timeoutMs: 1000 }));
    const log: string[] = [];
    const identity: Identity = {
      userId: "u1",
      tenantId: "t1",
      roles: [],
      topics: [],
      via: "access",
      exp: Math.floor(Date.now() / 1000) + 600,
      iat: 0,
      tokenIds: [],
    };
    const sink = new RecordingSink();
    // What a raw stream's sink does with a delivered event: queue its frame for the end of the turn.
    sink.deliver = (event) => flushSoon(target(`frame ${event.seq}`, log));
    const session = hub.open(openRequest(identity, {}, sink));
    await session.ready;
    const close = async () => {
      hub.close();
      await bus.close();
    };
    return { publish: () => publish(identity, { type: "note", data: 1, to: "me" }, "r"), log, close };
  }

  it("has a publish on the in-process bus write its frames before the call resolves when the loop is idle", async () => {
    const { publish, log, close } = await hubWithStream(true);
    await quiet();
    const first = await publish();
    expect(first.status).toBe("published");
    expect(log).toEqual(["frame 1"]);
    // Two calls in one turn, one after the other (two requests read in one turn): the first
    // writes at once, the second's frame waits for the turn's end.
    await quiet();
    await publish();
    expect(log).toEqual(["frame 1", "frame 2"]);
    await publish();
    expect(log).toEqual(["frame 1", "frame 2"]);
    await endOfTurn();
    expect(log).toEqual(["frame 1", "frame 2", "frame 3"]);
    await close();
  });

  it("without flushWhenIdle (the NATS bus), every frame waits for the end of its turn", async () => {
    const { publish, log, close } = await hubWithStream(false);
    await quiet();
    await publish();
    expect(log).toEqual([]);
    await endOfTurn();
    expect(log).toEqual(["frame 1"]);
    await close();
  });
});
