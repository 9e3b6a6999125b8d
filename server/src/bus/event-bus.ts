import type { StreamKey } from "@circl-bff/shared";
import { z } from "zod";

/**
 * A stream position: one sequence across all keys, plus the epoch of the bus that assigned it.
 * The epoch exists so that a client resuming against a store that was lost or rebuilt (a new
 * process for the in-process bus, a recreated JetStream stream) is told recovery is impossible
 * instead of silently receiving nothing, or the wrong events, for the numbers it holds.
 */
export type Position = { readonly epoch: string; readonly seq: number };

export type BusEvent = {
  readonly seq: number;
  readonly key: StreamKey;
  readonly type: string;
  readonly data: unknown;
  readonly correlationId?: string;
  readonly timestamp: string;
};

export type OutgoingEvent = { type: string; data: unknown; correlationId?: string };

export type BusPublishResult = { status: "published" | "duplicate"; position: Position } | { status: "queued" };

/** Why a backlog cannot be served; the client gets a `reset`. */
export type Gap = { readonly gap: string };

export type Unsubscribe = () => void;

/**
 * Gateway-to-gateway messages (not events for clients), delivered to every instance sharing
 * the bus, the sender included. Today: token revocations.
 */
export const revokeMessageSchema = z.object({
  kind: z.literal("revoke"),
  tenantId: z.string().min(1).max(256),
  userId: z.string().min(1).max(256),
  jti: z.string().min(1).max(256).optional(),
  issuedBefore: z.number().int().optional(),
  until: z.number().int(),
});

/**
 * Presence of one instance (see presence/presence-tracker.ts): `[tenant, topic, user,
 * connections]` entries, changed ones (`refresh: false`, 0 = gone) or all of them (`refresh:
 * true`, keeps them alive); `sync` asks every other instance for a refresh now.
 */
export const presenceMessageSchema = z.object({
  kind: z.literal("presence"),
  instance: z.string().min(1).max(64),
  refresh: z.boolean(),
  sync: z.boolean().optional(),
  entries: z
    .array(
      z.tuple([
        z.string().min(1).max(256),
        z.string().min(1).max(128),
        z.string().min(1).max(256),
        z.number().int().min(0).max(1_000_000),
      ]),
    )
    .max(10_000),
});
export type PresenceMessage = z.infer<typeof presenceMessageSchema>;

export const controlMessageSchema = z.discriminatedUnion("kind", [revokeMessageSchema, presenceMessageSchema]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

/** The bus cannot take the publish now (e.g. its retry queue is full): answer 503. */
export class BusUnavailableError extends Error {
  override readonly name = "BusUnavailableError";
}

/** The event is larger than the engine accepts (NATS `max_payload`): answer 413. */
export class EventTooLargeError extends Error {
  override readonly name = "EventTooLargeError";
}

/** A publish that failed for good (NATS bus), as an admin lists it. */
export type DeadLetter = {
  id: string;
  tenantId: string;
  userId?: string;
  topic?: string;
  type: string;
  data: unknown;
  correlationId?: string;
  attempts: number;
  lastError: string;
  failedAt: string;
  /** Listed by another instance, whose messages could not carry `data` (list it there). */
  dataOmitted?: true;
};

/** Dead letters of one tenant, for admins (`admin.deadLetters.*`). */
export interface DeadLetters {
  list(tenantId: string): DeadLetter[] | Promise<DeadLetter[]>;
  /** Moves the entry back into the publish queue; false when there is no such entry (or the queue is full). */
  retry(tenantId: string, id: string): boolean | Promise<boolean>;
  drop(tenantId: string, id: string): boolean | Promise<boolean>;
}

/**
 * The engines, by the name `/ready` reports, each with the `source` label of
 * `replay_events_total` for the history it serves (the hub's own buffers count as `buffer`).
 */
export const BUS_KINDS = { memory: { replaySource: "bus" }, nats: { replaySource: "jetstream" } } as const;
export type BusKind = keyof typeof BUS_KINDS;

export interface EventBus {
  /** Which engine this is (a key of `BUS_KINDS`). */
  readonly kind: BusKind;
  /** Publishes that failed for good, when the engine keeps them (NATS). */
  readonly deadLetters?: DeadLetters;
  /**
   * The epoch of the positions this bus hands out, fixed for the bus's lifetime: the hub keys
   * its replay buffers and frame caches by sequence alone. A bus whose store is replaced under
   * it stops delivering and reports not ready (NatsBus, `onStreamReplaced`); the process that
   * replaces it adopts the new store under a new epoch.
   */
  readonly epoch: string;
  /**
   * The highest sequence already handed to live subscribers. Read synchronously right after
   * `subscribe`, it splits history from live: every later event reaches the listener.
   */
  head(): number;
  /** True while the bus can publish and deliver. */
  isReady(): boolean;
  /**
   * Optional: what `/ready` reports, when it differs from `isReady()`. NATS rides out a failover
   * (a reconnect to another node of the cluster, a leader election) for a few seconds before it
   * says not ready.
   */
  readyForTraffic?(): boolean;
  /**
   * Optional, for engines whose subscriptions take effect asynchronously (NATS): resolves to a
   * position P such that every event of every key subscribed before the call is either stored
   * with a sequence up to P (`readAfter` serves it) or will reach the key's listeners. P is at
   * least every position the engine has handed out when the call was made.
   */
  sync?(): Promise<number>;
  publish(key: StreamKey, event: OutgoingEvent, opts?: { msgId?: string }): Promise<BusPublishResult>;
  /**
   * Live events of one key, in sequence order. Without `sync`, every event after `head()` read
   * right after the call reaches the listener; with it, every event after what `sync()` returns.
   */
  subscribe(key: StreamKey, onEvent: (event: BusEvent) => void): Unsubscribe;
  /** The events of `keys` with `after < seq <= upTo`, merged in sequence order, or a gap. */
  readAfter(keys: readonly StreamKey[], after: number, upTo: number): Promise<AsyncIterable<BusEvent> | Gap>;
  publishControl(message: ControlMessage): Promise<void>;
  onControl(listener: (message: ControlMessage) => void): Unsubscribe;
  close(): Promise<void>;
}

export function isGap(value: unknown): value is Gap {
  return typeof value === "object" && value !== null && "gap" in value;
}
