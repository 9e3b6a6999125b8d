import { randomUUID } from "node:crypto";
import type { StreamKey } from "@circl-bff/shared";
import type { DeadLetter, DeadLetters, OutgoingEvent } from "./event-bus.js";

export type PendingPublish = {
  readonly id: string;
  readonly key: StreamKey;
  readonly event: OutgoingEvent;
  /** The same `Nats-Msg-Id` on every attempt: an attempt that timed out but was stored is not stored twice. */
  readonly msgId: string;
  /** Failed attempts that count towards `maxAttempts` (transient failures do not). */
  attempts: number;
  /** Consecutive failed attempts of any kind (the backoff). */
  failures?: number;
  lastError?: string;
};

/**
 * A failed attempt: `transient` (NATS unreachable, no leader yet, a timeout: retried with backoff
 * for as long as it lasts, never a dead letter), `permanent` (a dead letter at once), or neither
 * (retried up to `maxAttempts`, then a dead letter).
 */
export type SendOutcome = { ok: true } | { ok: false; permanent: boolean; transient?: boolean; error: string };

export type PublishQueueOptions = {
  maxSize: number;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  send: (item: PendingPublish) => Promise<SendOutcome>;
  /**
   * False while the bus is disconnected: nothing is attempted (attempts are not spent) until
   * `kick()` after the reconnect; the bounded size is what limits an outage.
   */
  canSend: () => boolean;
  onSizes: (queued: number, dead: number) => void;
  onDeadLetter: (item: PendingPublish) => void;
  /** The item left the queue for good: stored, or dropped as a dead letter (the journal forgets it). */
  onDone?: (item: PendingPublish) => void;
  /** The item became a dead letter, or a dead letter went back into the queue. */
  onBuried?: (item: PendingPublish, letter: DeadLetter) => void;
  onRevived?: (item: PendingPublish) => void;
  now?: () => number;
};

/**
 * Publishes that could not reach NATS, retried in order with exponential backoff. Bounded: a
 * full queue refuses (the caller answers SERVICE_UNAVAILABLE) instead of growing the heap.
 * After `maxAttempts` an item becomes a dead letter (bounded too, oldest dropped first) that
 * an admin can retry or drop.
 */
export class PublishQueue implements DeadLetters {
  private readonly items: PendingPublish[] = [];
  private readonly dead = new Map<string, { item: PendingPublish; letter: DeadLetter }>();
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly options: PublishQueueOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.items.length;
  }

  get deadCount(): number {
    return this.dead.size;
  }

  /** True when the queue cannot take another item. */
  get full(): boolean {
    return this.closed || this.items.length >= this.options.maxSize;
  }

  /** False when the queue is full. `id`: the item's id when it has one already (its journal entry's). */
  enqueue(key: StreamKey, event: OutgoingEvent, msgId: string, id: string = randomUUID()): boolean {
    if (this.full) return false;
    this.items.push({ id, key, event, msgId, attempts: 0 });
    this.report();
    this.schedule(0);
    return true;
  }

  /** Tries the head of the queue now (e.g. right after a reconnect) instead of waiting for the backoff. */
  kick(): void {
    if (this.items.length > 0 && !this.sending) this.schedule(0);
  }

  list(tenantId: string): DeadLetter[] {
    return [...this.dead.values()].filter((d) => d.letter.tenantId === tenantId).map((d) => ({ ...d.letter }));
  }

  retry(tenantId: string, id: string): boolean {
    const entry = this.dead.get(id);
    if (entry === undefined || entry.letter.tenantId !== tenantId) return false;
    if (this.closed || this.items.length >= this.options.maxSize) return false;
    this.dead.delete(id);
    entry.item.attempts = 0;
    entry.item.failures = 0;
    this.items.push(entry.item);
    this.options.onRevived?.(entry.item);
    this.report();
    this.schedule(0);
    return true;
  }

  drop(tenantId: string, id: string): boolean {
    const entry = this.dead.get(id);
    if (entry === undefined || entry.letter.tenantId !== tenantId) return false;
    this.dead.delete(id);
    this.options.onDone?.(entry.item);
    this.report();
    return true;
  }

  /** A dead letter recovered from a journal. */
  restoreDead(item: PendingPublish, failedAt: string): void {
    this.bury(item, failedAt, false);
  }

  /** Resolves when the queue is empty or after `timeoutMs`; then stops retrying. Returns what was left. */
  async close(timeoutMs: number): Promise<number> {
    if (this.items.length > 0) {
      this.kick();
      await new Promise<void>((resolve) => {
        const timeout = setTimeout(resolve, timeoutMs);
        this.idleWaiters.push(() => {
          clearTimeout(timeout);
          resolve();
        });
      });
    }
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.items.length;
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.sending) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pump(), delayMs);
  }

  private async pump(): Promise<void> {
    this.timer = undefined;
    if (this.sending || this.closed) return;
    this.sending = true;
    try {
      while (this.items.length > 0 && !this.closed) {
        if (!this.options.canSend()) {
          this.sending = false;
          this.schedule(this.options.maxDelayMs);
          return;
        }
        const item = this.items[0] as PendingPublish;
        const outcome = await this.options.send(item);
        if (outcome.ok) {
          this.items.shift();
          this.options.onDone?.(item);
          this.report();
          continue;
        }
        item.lastError = outcome.error;
        item.failures = (item.failures ?? 0) + 1;
        if (outcome.transient !== true) item.attempts++;
        if (outcome.permanent || item.attempts >= this.options.maxAttempts) {
          this.items.shift();
          this.bury(item);
          continue;
        }
        const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (item.failures - 1));
        this.sending = false;
        this.schedule(delay);
        return;
      }
    } finally {
      this.sending = false;
    }
    if (this.items.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private bury(item: PendingPublish, failedAt = new Date(this.now()).toISOString(), fresh = true): void {
    const letter: DeadLetter = {
      id: item.id,
      tenantId: item.key.tenant,
      ...(item.key.user === undefined ? {} : { userId: item.key.user }),
      ...(item.key.topic === undefined ? {} : { topic: item.key.topic }),
      type: item.event.type,
      data: item.event.data,
      ...(item.event.correlationId === undefined ? {} : { correlationId: item.event.correlationId }),
      attempts: item.attempts,
      lastError: item.lastError ?? "unknown",
      failedAt,
    };
    this.dead.set(item.id, { item, letter });
    if (this.dead.size > this.options.maxSize) {
      const oldest = this.dead.values().next().value as { item: PendingPublish };
      this.dead.delete(oldest.item.id);
      this.options.onDone?.(oldest.item);
    }
    if (fresh) {
      this.options.onBuried?.(item, letter);
      this.options.onDeadLetter(item);
    }
    this.report();
  }

  private report(): void {
    this.options.onSizes(this.items.length, this.dead.size);
  }
}
