import { randomBytes } from "node:crypto";
import type { EventBus, PresenceMessage, Unsubscribe } from "../bus/event-bus.js";
import type { TopicStreamObserver } from "../stream/hub.js";

type PresenceChange = (tenantId: string, topic: string, kind: "join" | "leave", userId: string) => void;

type PresenceOptions = {
  /** How often this instance re-announces all its entries (keeps them alive elsewhere). */
  refreshMs: number;
  /** An entry of another instance not refreshed for this long is gone (the instance died). */
  expireMs: number;
  now?: () => number;
  onError?: (error: unknown) => void;
};

/** Entries per message: a refresh of many entries goes out in several messages. */
const ENTRIES_PER_MESSAGE = 2000;

type Remote = { connections: number; seenAt: number };
type UserPresence = { local: number; remote: Map<string, Remote> };

function total(user: UserPresence): number {
  let sum = user.local;
  for (const remote of user.remote.values()) sum += remote.connections;
  return sum;
}

/**
 * Who has streams open on which topic, across every instance sharing the bus (docs/presence.md).
 *
 * Each instance counts its own streams per tenant, topic and user, and tells the others over the
 * bus's control channel (core NATS, not the stream): the entries that changed, batched per turn
 * of the event loop, and every `refreshMs` all of its entries. Every instance keeps the sum, so
 * `list` answers from memory, and turns its 0 ↔ 1+ transitions into join and leave. An instance
 * that dies says nothing: its entries expire `expireMs` after their last refresh. A new instance
 * asks for a refresh (`sync`) when it starts. NATS traffic grows with stream opens and closes and
 * with a bounded refresh, never with events.
 */
export class PresenceTracker implements TopicStreamObserver {
  readonly instance = randomBytes(8).toString("hex");
  /** `[tenant, topic]` (JSON) → user → their streams here and elsewhere. */
  private readonly topics = new Map<string, Map<string, UserPresence>>();
  private readonly changed = new Map<string, [string, string, string]>();
  private readonly listeners = new Set<PresenceChange>();
  private readonly now: () => number;
  private readonly refreshTimer: NodeJS.Timeout;
  private readonly stopControl: Unsubscribe;
  private flushScheduled = false;
  private stopped = false;

  constructor(
    private readonly bus: EventBus,
    private readonly options: PresenceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.stopControl = bus.onControl((message) => {
      if (message.kind === "presence" && message.instance !== this.instance) this.received(message);
    });
    this.refreshTimer = setInterval(() => this.refresh(), options.refreshMs);
    this.refreshTimer.unref();
    this.send({ kind: "presence", instance: this.instance, refresh: true, sync: true, entries: [] });
  }

  onChange(listener: PresenceChange): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The users with at least one stream on the topic anywhere, with how many. */
  list(tenantId: string, topic: string): { userId: string; connections: number }[] {
    const users = this.topics.get(topicKey(tenantId, topic));
    if (users === undefined) return [];
    const list: { userId: string; connections: number }[] = [];
    for (const [userId, presence] of users) {
      const connections = total(presence);
      if (connections > 0) list.push({ userId, connections });
    }
    return list.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  }

  opened(tenantId: string, topic: string, userId: string): void {
    this.update(tenantId, topic, userId, (user) => {
      user.local++;
    });
    this.markChanged(tenantId, topic, userId);
  }

  closed(tenantId: string, topic: string, userId: string): void {
    this.update(tenantId, topic, userId, (user) => {
      user.local = Math.max(0, user.local - 1);
    });
    this.markChanged(tenantId, topic, userId);
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.refreshTimer);
    this.stopControl();
    this.flush();
    this.listeners.clear();
  }

  /** Applies a change to one user's entry and reports a 0 ↔ 1+ transition of their total. */
  private update(tenantId: string, topic: string, userId: string, change: (user: UserPresence) => void): void {
    const key = topicKey(tenantId, topic);
    let users = this.topics.get(key);
    if (users === undefined) {
      users = new Map();
      this.topics.set(key, users);
    }
    let user = users.get(userId);
    if (user === undefined) {
      user = { local: 0, remote: new Map() };
      users.set(userId, user);
    }
    const before = total(user);
    change(user);
    const after = total(user);
    if (user.local === 0 && user.remote.size === 0) {
      users.delete(userId);
      if (users.size === 0) this.topics.delete(key);
    }
    if ((before === 0) !== (after === 0)) this.emit(tenantId, topic, after > 0 ? "join" : "leave", userId);
  }

  private received(message: PresenceMessage): void {
    const now = this.now();
    for (const [tenantId, topic, userId, connections] of message.entries) {
      this.update(tenantId, topic, userId, (user) => {
        if (connections === 0) user.remote.delete(message.instance);
        else user.remote.set(message.instance, { connections, seenAt: now });
      });
    }
    if (message.sync === true) this.refresh();
  }

  private emit(tenantId: string, topic: string, kind: "join" | "leave", userId: string): void {
    for (const listener of this.listeners) {
      try {
        listener(tenantId, topic, kind, userId);
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }

  private markChanged(tenantId: string, topic: string, userId: string): void {
    this.changed.set(JSON.stringify([tenantId, topic, userId]), [tenantId, topic, userId]);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends this turn's changed entries, with their current local counts (0: gone from here). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.changed.size === 0) return;
    const entries: PresenceMessage["entries"] = [];
    for (const [tenantId, topic, userId] of this.changed.values()) {
      const local = this.topics.get(topicKey(tenantId, topic))?.get(userId)?.local ?? 0;
      entries.push([tenantId, topic, userId, local]);
    }
    this.changed.clear();
    this.sendEntries(entries, false);
  }

  /** Re-announces every local entry, and forgets other instances' entries that stopped being refreshed. */
  private refresh(): void {
    if (this.stopped) return;
    const now = this.now();
    const entries: PresenceMessage["entries"] = [];
    for (const [key, users] of [...this.topics]) {
      const [tenantId, topic] = JSON.parse(key) as [string, string];
      for (const [userId, user] of [...users]) {
        if (user.local > 0) entries.push([tenantId, topic, userId, user.local]);
        for (const [instance, remote] of user.remote) {
          if (now - remote.seenAt < this.options.expireMs) continue;
          this.update(tenantId, topic, userId, (entry) => {
            entry.remote.delete(instance);
          });
        }
      }
    }
    if (entries.length > 0) this.sendEntries(entries, true);
  }

  private sendEntries(entries: PresenceMessage["entries"], refresh: boolean): void {
    for (let start = 0; start < entries.length; start += ENTRIES_PER_MESSAGE) {
      this.send({
        kind: "presence",
        instance: this.instance,
        refresh,
        entries: entries.slice(start, start + ENTRIES_PER_MESSAGE),
      });
    }
  }

  private send(message: PresenceMessage): void {
    // A message lost while the bus is down is healed by the next refresh.
    this.bus.publishControl(message).catch((error: unknown) => this.options.onError?.(error));
  }
}

function topicKey(tenantId: string, topic: string): string {
  return JSON.stringify([tenantId, topic]);
}
