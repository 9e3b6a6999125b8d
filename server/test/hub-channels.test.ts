import type { StreamKey } from "@circl-bff/shared";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryBus } from "../src/bus/memory-bus.js";
import { createMetrics } from "../src/metrics.js";
import { Hub } from "../src/stream/hub.js";
import { QueueSink } from "../src/stream/queue-sink.js";

const TICK_MS = 50;
const LINGER_MS = 30_000;

/** A hub over the in-process bus with a clock the test moves, counting live bus subscriptions. */
function setup() {
  let clock = 1_000_000;
  const bus = new MemoryBus({ historySize: 100, now: () => clock });
  const live = new Map<string, number>();
  const subscribe = bus.subscribe.bind(bus);
  bus.subscribe = (key: StreamKey, listener) => {
    const name = key.user === undefined ? `${key.tenant}` : `${key.tenant}/${key.user}`;
    live.set(name, (live.get(name) ?? 0) + 1);
    const unsubscribe = subscribe(key, listener);
    return () => {
      live.set(name, (live.get(name) ?? 0) - 1);
      unsubscribe();
    };
  };
  const hub = new Hub(
    bus,
    {
      replayBufferSize: 100,
      maxPendingBytes: 1 << 20,
      maxConnectionMs: 3_600_000,
      tickMs: TICK_MS,
      lingerMs: LINGER_MS,
      now: () => clock,
    },
    createMetrics(),
  );
  const open = (userId: string) =>
    hub.open({ owner: { tenantId: "t1", userId, tokenIds: [], iat: 0 }, sink: new QueueSink(1 << 19) });
  const advance = (ms: number) => {
    clock += ms;
    vi.advanceTimersByTime(TICK_MS);
  };
  const subscriptions = () => Object.fromEntries([...live].filter(([, n]) => n !== 0));
  return { hub, bus, open, advance, subscriptions };
}

describe("hub channels", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keep a key's subscription and buffer for lingerMs after its last stream, then release them", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const { hub, bus, open, advance, subscriptions } = setup();
    const alice = open("alice");
    const bob = open("bob");
    await Promise.all([alice.ready, bob.ready]);
    expect(subscriptions()).toEqual({ t1: 1, "t1/alice": 1, "t1/bob": 1 });
    expect(hub.channelCount).toBe(3);

    alice.close();
    advance(LINGER_MS - 1);
    expect(hub.channelCount).toBe(3);

    // A reconnect within the window finds the topic (no new subscription) and the events it missed.
    await bus.publish({ tenant: "t1", user: "alice" }, { type: "t", data: 1 });
    const again = open("alice");
    await again.ready;
    expect(subscriptions()).toEqual({ t1: 1, "t1/alice": 1, "t1/bob": 1 });
    again.close();

    advance(LINGER_MS - 1);
    expect(hub.channelCount).toBe(3);
    advance(1);
    expect(hub.channelCount).toBe(2);
    expect(subscriptions()).toEqual({ t1: 1, "t1/bob": 1 });

    // The tenant key lingers only once its last stream is gone too.
    bob.close();
    advance(LINGER_MS);
    expect(hub.channelCount).toBe(0);
    expect(subscriptions()).toEqual({});
    hub.close();
  });
});
