import type { EventEnvelope } from "@circl-bff/shared";

export type StreamState = "idle" | "connecting" | "open" | "error";

type StreamListener = {
  event(envelope: EventEnvelope): void;
  state(state: StreamState): void;
};

/** Opens one real stream from `lastEventId`; returns its stop function. */
type OpenUpstream = (lastEventId: string | undefined, sink: StreamListener) => () => void;

type Relay = { kind: "event"; envelope: EventEnvelope } | { kind: "state"; state: StreamState } | { kind: "hello" };

const SEEN_IDS = 2048;

/** `connected` and presence envelopes carry no position (empty id): never deduplicated, resumed or counted. */
function isPosition(envelope: EventEnvelope): boolean {
  return envelope.id !== "";
}

function clientIdOf(envelope: EventEnvelope): unknown {
  return (envelope.data as { clientId?: unknown } | null | undefined)?.clientId;
}

/** Whether this runtime can share one stream between tabs (Web Locks and BroadcastChannel). */
export function canShareAcrossTabs(): boolean {
  const nav = (globalThis as { navigator?: { locks?: unknown } }).navigator;
  return nav?.locks !== undefined && typeof BroadcastChannel === "function";
}

/**
 * Fans one stream out to every subscriber of this tab and, when `name` is set, to every tab of
 * the origin: the tab holding the Web Lock `name` is the leader and the only one with a network
 * stream; it relays envelopes over a `BroadcastChannel` of the same name. When the leader tab
 * closes the browser hands the lock to a waiting tab, which opens the stream from the last id
 * it received, so no event falls between two leaders (overlaps are dropped by id).
 */
export class TabStream {
  private readonly subscribers = new Set<StreamListener>();
  private readonly seen = new Set<string>();
  private lastEventId: string | undefined;
  private state: StreamState = "idle";
  /** The current connection's `connected` envelope, handed to subscribers that join an open stream. */
  private connected: EventEnvelope | undefined;
  private channel: BroadcastChannel | undefined;
  private stopUpstream: (() => void) | undefined;
  private leaving: AbortController | undefined;
  private resignLeadership: (() => void) | undefined;
  /** Bumped by every start/stop, so a late name lookup of an earlier start does nothing. */
  private generation = 0;
  private nameAttempts = 0;
  private nameRetry: ReturnType<typeof setTimeout> | undefined;
  isLeader = false;

  constructor(
    private readonly open: OpenUpstream,
    /** The lock/channel name; `undefined` turns sharing off (one stream per subscriber tab). */
    private readonly name: () => Promise<string | undefined>,
    initialLastEventId?: string,
  ) {
    this.lastEventId = initialLastEventId;
  }

  /** `lastEventId` resumes the stream when this subscriber starts it and no later id is known. */
  subscribe(listener: StreamListener, lastEventId?: string): () => void {
    this.lastEventId ??= lastEventId;
    this.subscribers.add(listener);
    listener.state(this.state);
    // Joining a stream that is already attached: this subscriber is ready now.
    if (this.connected !== undefined) listener.event(this.connected);
    if (this.subscribers.size === 1) this.start();
    return () => {
      if (!this.subscribers.delete(listener)) return;
      if (this.subscribers.size === 0) this.stop();
    };
  }

  private start(): void {
    const generation = ++this.generation;
    void this.name().then(
      (name) => {
        this.nameAttempts = 0;
        if (generation === this.generation && this.subscribers.size > 0) this.startAs(name);
      },
      () => {
        // The name needs a token (offline, gateway down): try again rather than fall back to an
        // unshared stream in every tab.
        if (generation !== this.generation || this.subscribers.size === 0) return;
        this.setState("connecting", true);
        const delay = Math.min(10_000, 250 * 2 ** this.nameAttempts++);
        this.nameRetry = setTimeout(() => {
          if (generation === this.generation && this.subscribers.size > 0) this.start();
        }, delay);
      },
    );
  }

  private startAs(name: string | undefined): void {
    if (name === undefined) {
      this.stopUpstream = this.open(this.lastEventId, this.upstreamSink());
      return;
    }
    const channel = new BroadcastChannel(name);
    this.channel = channel;
    channel.onmessage = (message: MessageEvent<Relay>) => this.onRelay(message.data);
    channel.postMessage({ kind: "hello" } satisfies Relay);
    const leaving = new AbortController();
    this.leaving = leaving;
    const locks = (globalThis.navigator as Navigator).locks;
    locks
      .request(name, { signal: leaving.signal }, async () => {
        this.isLeader = true;
        this.stopUpstream = this.open(this.lastEventId, this.upstreamSink());
        await new Promise<void>((resolve) => {
          this.resignLeadership = resolve;
        });
      })
      .catch(() => {
        // Aborted while waiting for the lock: this tab left before it became the leader.
      });
  }

  private stop(): void {
    this.generation++;
    clearTimeout(this.nameRetry);
    this.nameRetry = undefined;
    this.nameAttempts = 0;
    this.stopUpstream?.();
    this.stopUpstream = undefined;
    this.isLeader = false;
    this.resignLeadership?.();
    this.resignLeadership = undefined;
    this.leaving?.abort();
    this.leaving = undefined;
    this.channel?.close();
    this.channel = undefined;
    // A later subscriber starts from its own position (or live), not from where this one left.
    this.lastEventId = undefined;
    this.seen.clear();
    this.setState("idle", false);
  }

  private upstreamSink(): StreamListener {
    return {
      event: (envelope) => {
        this.channel?.postMessage({ kind: "event", envelope } satisfies Relay);
        this.deliver(envelope);
      },
      state: (state) => {
        this.channel?.postMessage({ kind: "state", state } satisfies Relay);
        this.setState(state, true);
      },
    };
  }

  private onRelay(relay: Relay): void {
    if (relay.kind === "event") this.deliver(relay.envelope);
    else if (relay.kind === "state") this.setState(relay.state, true);
    else if (this.isLeader) {
      this.channel?.postMessage({ kind: "state", state: this.state } satisfies Relay);
      // A tab that just joined learns that the stream is attached (tabs that knew ignore it).
      if (this.connected !== undefined) {
        this.channel?.postMessage({ kind: "event", envelope: this.connected } satisfies Relay);
      }
    }
  }

  private deliver(envelope: EventEnvelope): void {
    if (!isPosition(envelope)) {
      if (envelope.type === "connected") {
        if (this.connected !== undefined && clientIdOf(this.connected) === clientIdOf(envelope)) return;
        this.connected = envelope;
      }
      for (const subscriber of [...this.subscribers]) subscriber.event(envelope);
      return;
    }
    if (this.seen.has(envelope.id)) return;
    this.seen.add(envelope.id);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value as string);
    this.lastEventId = envelope.id;
    for (const subscriber of [...this.subscribers]) subscriber.event(envelope);
  }

  private setState(state: StreamState, notify: boolean): void {
    if (state === this.state) return;
    this.state = state;
    if (state !== "open") this.connected = undefined;
    if (notify) for (const subscriber of [...this.subscribers]) subscriber.state(state);
  }
}

/** A channel/lock name per gateway and user, so two users of one origin never share a stream. */
export function shareName(kind: string, url: string, user: string): string {
  return `circl-bff:${kind}:${url}:${user}`;
}

/** `sub` and tenant of a JWT, read without verification (only to name the channel). */
export function tokenUser(token: string | undefined): string | undefined {
  const payload = token?.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    if (typeof claims.sub !== "string") return undefined;
    return JSON.stringify([claims.sub, claims.tenantId ?? null]);
  } catch {
    return undefined;
  }
}
