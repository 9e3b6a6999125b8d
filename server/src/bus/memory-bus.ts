import { randomBytes } from "node:crypto";
import { keyId, type StreamKey } from "@circl-bff/shared";
import { busTracing } from "../telemetry/bus-tracing.js";
import type {
  BusEvent,
  BusPublishResult,
  ControlMessage,
  EventBus,
  Gap,
  OutgoingEvent,
  Unsubscribe,
} from "./event-bus.js";
import { fromList, KeyListeners } from "./key-listeners.js";
import { mergeBySeq, ReplayBuffer } from "./replay-buffer.js";

type MemoryBusOptions = {
  /** Events kept per key for resume. */
  historySize: number;
  /** Keys with history kept at once; the least recently written key is dropped beyond it. */
  maxKeys?: number;
  /** De-duplication window for `msgId`. */
  dedupeWindowMs?: number;
  maxDedupeEntries?: number;
  now?: () => number;
  onListenerError?: (error: unknown) => void;
};

/**
 * The in-process bus: one process, zero setup. Its epoch is random per start, so ids from an
 * earlier process are recognised as unservable and answered with `reset`.
 */
export class MemoryBus implements EventBus {
  readonly kind = "memory";
  readonly epoch = randomBytes(6).toString("hex");
  private seq = 0;
  private closed = false;
  private readonly listeners = new KeyListeners();
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private readonly history = new Map<string, ReplayBuffer<BusEvent>>();
  /** The highest sequence of any history dropped whole (see `maxKeys`). */
  private droppedUpTo = 0;
  private readonly dedupe = new Map<string, { seq: number; expiresAt: number }>();
  private readonly maxKeys: number;
  private readonly dedupeWindowMs: number;
  private readonly maxDedupeEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: MemoryBusOptions) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
    this.maxDedupeEntries = options.maxDedupeEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  head(): number {
    return this.seq;
  }

  isReady(): boolean {
    return !this.closed;
  }

  async publish(key: StreamKey, event: OutgoingEvent, opts?: { msgId?: string }): Promise<BusPublishResult> {
    if (this.closed) throw new Error("bus closed");
    const now = this.now();
    if (opts?.msgId !== undefined) {
      this.pruneDedupe(now);
      const seen = this.dedupe.get(opts.msgId);
      if (seen !== undefined) return { status: "duplicate", position: { epoch: this.epoch, seq: seen.seq } };
    }
    const seq = ++this.seq;
    const busEvent: BusEvent = {
      seq,
      key,
      type: event.type,
      data: event.data,
      ...(event.correlationId === undefined ? {} : { correlationId: event.correlationId }),
      timestamp: new Date(now).toISOString(),
    };
    if (opts?.msgId !== undefined) {
      this.dedupe.set(opts.msgId, { seq, expiresAt: now + this.dedupeWindowMs });
      if (this.dedupe.size > this.maxDedupeEntries) this.dedupe.delete(this.dedupe.keys().next().value as string);
    }
    const id = keyId(key);
    this.remember(id, busEvent);
    if (busTracing !== undefined && this.listeners.has(id))
      busTracing.deliverLocal(id, seq, () => this.dispatch(id, busEvent));
    else this.dispatch(id, busEvent);
    return { status: "published", position: { epoch: this.epoch, seq } };
  }

  subscribe(key: StreamKey, onEvent: (event: BusEvent) => void): Unsubscribe {
    return this.listeners.add(key, onEvent);
  }

  async readAfter(keys: readonly StreamKey[], after: number, upTo: number): Promise<AsyncIterable<BusEvent> | Gap> {
    const lists: BusEvent[][] = [];
    for (const key of keys) {
      const buffer = this.history.get(keyId(key));
      const completeAfter = buffer === undefined ? this.droppedUpTo : buffer.completeAfter;
      if (completeAfter > after) return { gap: "position older than the retained history" };
      if (buffer !== undefined) lists.push(buffer.slice(after, upTo));
    }
    return fromList(mergeBySeq(lists));
  }

  async publishControl(message: ControlMessage): Promise<void> {
    for (const listener of this.controlListeners) {
      try {
        listener(message);
      } catch (error) {
        this.options.onListenerError?.(error);
      }
    }
  }

  onControl(listener: (message: ControlMessage) => void): Unsubscribe {
    this.controlListeners.add(listener);
    return () => this.controlListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.controlListeners.clear();
  }

  private dispatch(id: string, event: BusEvent): void {
    this.listeners.dispatch(id, event, (error) => this.options.onListenerError?.(error));
  }

  private remember(id: string, event: BusEvent): void {
    let buffer = this.history.get(id);
    if (buffer === undefined) {
      // A key seen for the first time has missed nothing that a reader could ask for, except
      // what went with keys dropped earlier.
      buffer = new ReplayBuffer<BusEvent>(this.options.historySize, this.droppedUpTo);
    } else {
      this.history.delete(id); // re-insert below: Map order is least recently written first
    }
    buffer.push(event);
    this.history.set(id, buffer);
    if (this.history.size > this.maxKeys) {
      const [oldestId] = this.history.keys();
      this.history.delete(oldestId as string);
      // Everything up to now may have included events of the dropped key.
      this.droppedUpTo = event.seq;
    }
  }

  private pruneDedupe(now: number): void {
    for (const [msgId, entry] of this.dedupe) {
      if (entry.expiresAt > now) break; // insertion order is expiry order
      this.dedupe.delete(msgId);
    }
  }
}
