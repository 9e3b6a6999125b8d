import { describe, expect, it } from "vitest";
import { Slots } from "../src/bus/slots.js";

describe("Slots", () => {
  it("lets `size` holders in at once and the others in arrival order as slots are released", async () => {
    const slots = new Slots(2);
    const entered: number[] = [];
    const enter = (n: number) => slots.acquire().then(() => entered.push(n));
    const all = [enter(1), enter(2), enter(3), enter(4), enter(5)];
    await Promise.resolve();
    await Promise.resolve();
    expect(entered).toEqual([1, 2]);
    slots.release();
    await all[2];
    expect(entered).toEqual([1, 2, 3]);
    slots.release();
    slots.release();
    await Promise.all(all);
    expect(entered).toEqual([1, 2, 3, 4, 5]);
    // Two holders left (4 and 5): after they release, two may enter at once again.
    slots.release();
    slots.release();
    const again: number[] = [];
    await Promise.all([slots.acquire().then(() => again.push(6)), slots.acquire().then(() => again.push(7))]);
    expect(again).toEqual([6, 7]);
    let eighth = false;
    void slots.acquire().then(() => {
      eighth = true;
    });
    await Promise.resolve();
    expect(eighth).toBe(false);
  });
});
