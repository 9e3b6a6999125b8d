import { describe, expect, it } from "vitest";
import type { BusEvent } from "../src/bus/event-bus.js";
import { RecentBySeq } from "../src/bus/recent-by-seq.js";

const event = (seq: number): BusEvent => ({
  seq,
  key: { tenant: "t1" },
  type: "n",
  data: seq,
  timestamp: "2026-11-28T00:00:00.000Z",
});

describe("recent items by sequence", () => {
  it("keeps at most maxItems, oldest out first", () => {
    const recent = new RecentBySeq<BusEvent>({ maxItems: 3, maxBytes: 1_000 });
    const events = [1, 2, 3, 4].map(event);
    for (const e of events) recent.add(e, 10);
    expect(recent.size).toBe(3);
    expect(recent.get(1)).toBeUndefined();
    expect(recent.get(2)).toBe(events[1]);
    expect(recent.get(4)).toBe(events[3]);
  });

  it("keeps at most maxBytes, and never one larger than that", () => {
    const recent = new RecentBySeq<BusEvent>({ maxItems: 100, maxBytes: 100 });
    recent.add(event(1), 40);
    recent.add(event(2), 40);
    recent.add(event(3), 40); // 120 bytes: the oldest goes
    expect([recent.get(1), recent.get(2)?.seq, recent.get(3)?.seq]).toEqual([undefined, 2, 3]);
    recent.add(event(4), 101);
    expect(recent.get(4)).toBeUndefined();
    expect(recent.size).toBe(2);
  });

  it("keeps the first event of a sequence and forgets everything on clear", () => {
    const recent = new RecentBySeq<BusEvent>({ maxItems: 10, maxBytes: 1_000 });
    const first = event(7);
    recent.add(first, 10);
    recent.add(event(7), 10);
    expect(recent.get(7)).toBe(first);
    expect(recent.size).toBe(1);
    recent.clear();
    expect(recent.get(7)).toBeUndefined();
    // Byte accounting starts over too.
    for (let seq = 1; seq <= 10; seq++) recent.add(event(seq), 100);
    expect(recent.size).toBe(10);
  });
});
