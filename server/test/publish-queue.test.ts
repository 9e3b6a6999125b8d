import { describe, expect, it } from "vitest";
import { type PendingPublish, PublishQueue, type SendOutcome } from "../src/bus/publish-queue.js";

/** A queue whose sends are answered by the test, one outcome per attempt. */
function harness(options: { maxSize?: number; maxAttempts?: number } = {}) {
  const attempts: { item: PendingPublish; answer: (outcome: SendOutcome) => void }[] = [];
  const waiters: (() => void)[] = [];
  const sizes: [number, number][] = [];
  const buried: string[] = [];
  let connected = true;
  const queue = new PublishQueue({
    maxSize: options.maxSize ?? 3,
    maxAttempts: options.maxAttempts ?? 2,
    baseDelayMs: 1,
    maxDelayMs: 5,
    canSend: () => connected,
    send: (item) =>
      new Promise<SendOutcome>((resolve) => {
        attempts.push({ item, answer: resolve });
        for (const wake of waiters.splice(0)) wake();
      }),
    onSizes: (queued, dead) => sizes.push([queued, dead]),
    onDeadLetter: (item) => buried.push(item.event.type),
  });
  return {
    queue,
    attempts,
    sizes,
    buried,
    setConnected(value: boolean) {
      connected = value;
    },
    /** The next attempt the queue makes. */
    async nextAttempt() {
      const seen = attempts.length;
      while (attempts.length === seen) await new Promise<void>((resolve) => waiters.push(resolve));
      return attempts[seen] as (typeof attempts)[number];
    },
  };
}

const key = { tenant: "t1", user: "u1" };

describe("publish retry queue", () => {
  it("retries in order with the same msg id and empties once NATS answers", async () => {
    const h = harness();
    expect(h.queue.enqueue(key, { type: "a", data: 1 }, "m-a")).toBe(true);
    expect(h.queue.enqueue(key, { type: "b", data: 2 }, "m-b")).toBe(true);
    const first = await h.nextAttempt();
    expect(first.item.msgId).toBe("m-a");
    first.answer({ ok: false, permanent: false, error: "TimeoutError" });
    const retry = await h.nextAttempt();
    expect(retry.item.msgId).toBe("m-a");
    retry.answer({ ok: true });
    const second = await h.nextAttempt();
    expect(second.item.msgId).toBe("m-b");
    second.answer({ ok: true });
    await h.queue.close(1000);
    expect(h.queue.size).toBe(0);
    expect(h.sizes.at(-1)).toEqual([0, 0]);
  });

  it("refuses beyond its size instead of growing", () => {
    const h = harness({ maxSize: 2 });
    h.setConnected(false);
    expect(h.queue.enqueue(key, { type: "a", data: 1 }, "1")).toBe(true);
    expect(h.queue.enqueue(key, { type: "b", data: 1 }, "2")).toBe(true);
    expect(h.queue.enqueue(key, { type: "c", data: 1 }, "3")).toBe(false);
    expect(h.queue.size).toBe(2);
    void h.queue.close(0);
  });

  it("spends no attempts while disconnected and sends right after kick()", async () => {
    const h = harness({ maxAttempts: 1 });
    h.setConnected(false);
    h.queue.enqueue(key, { type: "a", data: 1 }, "1");
    h.setConnected(true);
    h.queue.kick();
    const attempt = await h.nextAttempt();
    expect(attempt.item.attempts).toBe(0);
    attempt.answer({ ok: true });
    await h.queue.close(1000);
    expect(h.buried).toEqual([]);
  });

  it("never buries an item for transient failures (no leader, timeouts), however many, and sends it once they pass", async () => {
    const h = harness({ maxAttempts: 2 });
    h.queue.enqueue(key, { type: "patient", data: 1 }, "m-p");
    for (let i = 0; i < 6; i++) {
      const attempt = await h.nextAttempt();
      expect(attempt.item.msgId).toBe("m-p");
      attempt.answer({ ok: false, permanent: false, transient: true, error: "JetStreamNotEnabled: no responders" });
    }
    (await h.nextAttempt()).answer({ ok: true });
    await h.queue.close(1000);
    expect(h.buried).toEqual([]);
    expect(h.queue.size).toBe(0);
  });

  it("moves an item to the dead letters after maxAttempts; admins of its tenant list, retry and drop it", async () => {
    const h = harness({ maxAttempts: 2 });
    h.queue.enqueue(key, { type: "doomed", data: { x: 1 }, correlationId: "c1" }, "m-1");
    (await h.nextAttempt()).answer({ ok: false, permanent: false, error: "TimeoutError: 1" });
    (await h.nextAttempt()).answer({ ok: false, permanent: false, error: "TimeoutError: 2" });
    while (h.buried.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(h.queue.size).toBe(0);
    expect(h.queue.list("other-tenant")).toEqual([]);
    const [letter] = h.queue.list("t1");
    expect(letter).toMatchObject({
      tenantId: "t1",
      userId: "u1",
      type: "doomed",
      data: { x: 1 },
      correlationId: "c1",
      attempts: 2,
      lastError: "TimeoutError: 2",
    });
    const id = letter?.id as string;
    expect(h.queue.retry("other-tenant", id)).toBe(false);
    expect(h.queue.retry("t1", id)).toBe(true);
    const again = await h.nextAttempt();
    expect(again.item.msgId).toBe("m-1");
    again.answer({ ok: false, permanent: true, error: "bad" });
    while (h.queue.deadCount === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(h.queue.drop("other-tenant", id)).toBe(false);
    expect(h.queue.drop("t1", id)).toBe(true);
    expect(h.queue.list("t1")).toEqual([]);
    expect(h.sizes.at(-1)).toEqual([0, 0]);
    await h.queue.close(0);
  });
});
