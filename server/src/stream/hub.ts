import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { keyId, type StreamKey } from "@circl-bff/shared";
import type { TokenOwner } from "../auth/identity.js";
import type { BusEvent, EventBus, Unsubscribe } from "../bus/event-bus.js";
import { BUS_KINDS, isGap } from "../bus/event-bus.js";
import { formatEventId, parseEventId } from "../bus/position.js";
import { RecentBySeq } from "../bus/recent-by-seq.js";
import { mergeBySeq, ReplayBuffer } from "../bus/replay-buffer.js";
import type { Metrics } from "../metrics.js";
import type { OpenRequest } from "./open-request.js";
import { type StreamEvent, toPresenceEvent, toResetEvent, toStreamEvent } from "./stream-event.js";
import { type SessionHub, StreamSession } from "./stream-session.js";
import type { EndReason } from "./stream-sink.js";
import { flushIfIdle } from "./write-coalescer.js";

/** An event that cannot be serialised (e.g. nested too deeply for `JSON.stringify`): skipped. */
export class UnframableEventError extends Error {
  override readonly name = "UnframableEventError";
  constructor(
    readonly seq: number,
    readonly type: string,
    cause: unknown,
  ) {
    super(`event ${seq} (${type}) cannot be framed and is skipped`, { cause });
  }
}

/** Replayed events between two turns of the event loop during a catch-up. */
const CATCH_UP_SLICE = 1000;

/** Who follows which topic on this instance, stream by stream (presence counts them). */
export interface TopicStreamObserver {
  opened(tenantId: string, topic: string, userId: string): void;
  closed(tenantId: string, topic: string, userId: string): void;
}

type HubOptions = {
  replayBufferSize: number;
  maxPendingBytes: number;
  /** A stream is ended after this long (the client reconnects and resumes). */
  maxConnectionMs: number;
  /** Period of the shared timer that drives heartbeats, maximum duration and token expiry. */
  tickMs: number;
  /** How long a key's channel (bus subscription and replay buffer) outlives its last stream. */
  lingerMs: number;
  now?: () => number;
  onError?: (error: unknown) => void;
  /** Told when a stream on a topic opens and closes. */
  topicStreams?: TopicStreamObserver;
  /**
   * Nagle's rule for the event loop on delivery (`flushIfIdle`): on for a bus that delivers
   * during the publish call (in-process), off for NATS, whose deliveries arrive in bursts with
   * quiet turns between them — there the rule split writes and cost fan-out a fifth to a quarter
   * (docs/bench.md, items 27 and 29).
   */
  flushWhenIdle?: boolean;
};

/** One stream key's live feed on this instance: its bus subscription, replay buffer and streams. */
type Channel = {
  readonly id: string;
  readonly key: StreamKey;
  readonly buffer: ReplayBuffer<StreamEvent>;
  readonly sessions: Set<StreamSession>;
  readonly unsubscribe: Unsubscribe;
  /** The bus's subscription is known to be in effect (and the buffer's coverage set). */
  covered: boolean;
  /** Since when no stream uses it (a reconnect within `lingerMs` still finds its buffer). */
  idleSince?: number;
};

type Plan =
  | { resumed: true; history: Iterable<StreamEvent> | AsyncIterable<BusEvent> }
  | { resumed: false; reset?: string };

/**
 * The fan-out hub, written once for both transports. One bus subscription per key however many
 * connections share it; each event is enveloped and serialised once and handed to all of them.
 */
export class Hub implements SessionHub {
  private readonly channels = new Map<string, Channel>();
  /** Channels no stream uses, until they expire: the timer looks at these, not at every channel. */
  private readonly lingering = new Set<Channel>();
  /** Set by `close()`: a stream that opens later is ended at once. */
  private shutDown = false;
  private readonly sessions = new Set<StreamSession>();
  /**
   * History from the bus, enveloped and serialised once for the streams resuming together:
   * the frames built last, at most 10,000 and 16 MiB of them, so that history replayed once
   * keeps no second copy for as long as the bus keeps the event.
   */
  private readonly recentFrames = new RecentBySeq<StreamEvent>({ maxItems: 10_000, maxBytes: 16 * 1024 * 1024 });
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(
    private readonly bus: EventBus,
    private readonly options: HubOptions,
    private readonly metrics: Metrics,
  ) {
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.tick(), options.tickMs);
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /**
   * Attaches a stream to the user's personal key, the tenant broadcast key and its topics' keys,
   * then (in the background, `session.ready`) replays what it missed or sends a `reset`, then
   * goes live.
   */
  open(request: OpenRequest): StreamSession {
    const { sink, owner } = request;
    const transport = sink.transport;
    const { tenantId, userId } = owner;
    const topics = [...new Set(request.topics ?? [])];
    const wanted: StreamKey[] = [
      { tenant: tenantId, user: userId },
      { tenant: tenantId },
      ...topics.map((topic) => ({ tenant: tenantId, topic })),
    ];
    // After shutdown no channel (and no bus subscription) is made for a stream that is ended at once.
    const channels = this.shutDown ? [] : wanted.map((key) => this.channelFor(key));
    // The channels' own key objects: a stream keeps no copies of its own.
    const keys = this.shutDown ? wanted : channels.map((channel) => channel.key);
    const now = this.now();
    const maxDurationAt = now + this.options.maxConnectionMs;
    const expiresAt = request.expiresAt ?? Number.POSITIVE_INFINITY;
    const session = new StreamSession(
      this,
      owner,
      keys,
      sink,
      request.types === undefined ? undefined : new Set(request.types),
      this.options.maxPendingBytes,
      Math.min(maxDurationAt, expiresAt),
      expiresAt < maxDurationAt ? "token-expired" : "max-duration",
      request.presence === true && topics.length > 0,
    );
    // Presence first: the other streams on the topics learn of this one, this one not of itself.
    for (const topic of topics) this.options.topicStreams?.opened(tenantId, topic, userId);
    // Attach, then read the head in the same tick: every event after `head` reaches the session
    // live, everything up to it is history.
    for (const channel of channels) channel.sessions.add(session);
    this.sessions.add(session);
    this.metrics.sseConnectionsActive.labels(transport).inc();
    if (this.shutDown) {
      // Its request came in before the shutdown, its stream opens after it (authentication and
      // grants are awaited): end it like the others, or the server's close waits for it until
      // the process is killed (the rolling-restart test under load found it).
      session.end("shutdown");
      return session;
    }
    const epoch = this.bus.epoch;
    const sync = this.bus.sync;
    if (sync === undefined || !this.needsSync(channels, request.lastEventId)) {
      // Attach, then read the head in the same tick: every event after `head` reaches the
      // session live, everything up to it is history.
      session.ready = this.catchUp(session, request, epoch, this.bus.head(), channels, keys);
    } else {
      // A subscription of the engine's is not in effect yet, or the client holds a position this
      // instance has not seen: the engine says from where on everything reaches the channels.
      session.ready = sync.call(this.bus).then((head) => {
        for (const channel of channels) {
          if (channel.covered) continue;
          channel.buffer.coverAfter(head);
          channel.covered = true;
        }
        return this.catchUp(session, request, epoch, head, channels, keys);
      });
    }
    session.ready = session.ready.catch((error: unknown) => {
      this.options.onError?.(error);
      session.end("shutdown");
    });
    return session;
  }

  private needsSync(channels: readonly Channel[], lastEventId: string | undefined): boolean {
    if (channels.some((channel) => !channel.covered)) return true;
    const position = lastEventId === undefined ? undefined : parseEventId(lastEventId);
    return position !== undefined && position.epoch === this.bus.epoch && position.seq > this.bus.head();
  }

  /**
   * Presence changed on a topic (anywhere): the streams on it that asked for presence get an
   * untracked `presence.join` / `presence.leave`.
   */
  presenceChanged(tenantId: string, topic: string, kind: "join" | "leave", userId: string): void {
    const channel = this.channels.get(keyId({ tenant: tenantId, topic }));
    if (channel === undefined || channel.sessions.size === 0) return;
    let event: StreamEvent | undefined;
    for (const session of channel.sessions) {
      if (!session.presence) continue;
      event ??= toPresenceEvent(tenantId, kind, { topic, userId }, this.now());
      session.push(event);
    }
  }

  private async catchUp(
    session: StreamSession,
    request: OpenRequest,
    epoch: string,
    head: number,
    channels: readonly Channel[],
    keys: readonly StreamKey[],
  ): Promise<void> {
    const plan = await this.plan(request.lastEventId, epoch, head, channels, keys);
    if (session.isClosed) return;
    session.sink.start(plan.resumed);
    if (!plan.resumed && plan.reset !== undefined) {
      this.metrics.streamResets.labels(plan.reset).inc();
      const requested = (request.lastEventId ?? "").slice(0, 128);
      await session.replay(toResetEvent(epoch, head, keys[0] as StreamKey, plan.reset, requested, this.now()));
    }
    if (plan.resumed) {
      let sinceYield = 0;
      for await (const item of plan.history) {
        if (session.isClosed) return;
        const framed = "frame" in item ? item : this.historyFrame(epoch, item);
        if (framed === undefined) continue; // logged: skipped, never a reason to end the stream
        const wait = session.replay(framed);
        if (wait !== undefined) {
          await wait;
          sinceYield = 0;
        } else if (++sinceYield >= CATCH_UP_SLICE) {
          // History from memory never waits on I/O by itself: without this, a reconnect storm
          // replays in promise turns for seconds while nothing else runs (no new connection, no
          // health check, no batch leaves for the sockets; load shedding then refuses requests).
          await yieldToEventLoop();
          sinceYield = 0;
        }
      }
    }
    session.goLive(head);
  }

  private historyFrame(epoch: string, event: BusEvent): StreamEvent | undefined {
    let framed = this.recentFrames.get(event.seq);
    if (framed === undefined) {
      framed = this.frame(epoch, event);
      if (framed !== undefined) this.recentFrames.add(framed, framed.chunk.length);
    }
    return framed;
  }

  /**
   * The event enveloped and serialised, or `undefined` (reported to `onError`) when it cannot be:
   * every door refuses such data, but one stored before that, or by a backend bypassing them,
   * must cost a logged skip, never a stream that ends on every resume.
   */
  private frame(epoch: string, event: BusEvent): StreamEvent | undefined {
    try {
      return toStreamEvent(epoch, event);
    } catch (error) {
      this.metrics.eventsUnframable.inc();
      this.options.onError?.(new UnframableEventError(event.seq, event.type, error));
      return undefined;
    }
  }

  /** Ends the streams whose owner matches (e.g. a revoked user's). Returns how many. */
  endStreams(match: (owner: TokenOwner) => boolean, reason: EndReason): number {
    let ended = 0;
    for (const session of [...this.sessions]) {
      if (!match(session.owner)) continue;
      session.end(reason);
      ended++;
    }
    return ended;
  }

  /** Ends every stream (graceful shutdown: clients reconnect to another instance). */
  close(): void {
    this.shutDown = true;
    clearInterval(this.timer);
    for (const session of [...this.sessions]) session.end("shutdown");
    for (const channel of this.channels.values()) channel.unsubscribe();
    this.channels.clear();
    this.lingering.clear();
  }

  private async plan(
    lastEventId: string | undefined,
    epoch: string,
    head: number,
    channels: readonly Channel[],
    keys: readonly StreamKey[],
  ): Promise<Plan> {
    if (lastEventId === undefined) return { resumed: false };
    const position = parseEventId(lastEventId);
    if (position === undefined) return { resumed: false, reset: "unknown-id" };
    if (position.epoch !== epoch) return { resumed: false, reset: "epoch-changed" };
    // `head` is at least every position the bus has handed out (see `EventBus.sync`).
    if (position.seq > head) return { resumed: false, reset: "unknown-id" };
    if (position.seq === head) return { resumed: true, history: [] };
    // The buffers hold everything up to the bus's own head; a later `head` (from `sync`) is read
    // from the store.
    if (head <= this.bus.head() && channels.every((channel) => channel.buffer.completeAfter <= position.seq)) {
      const history = mergeBySeq(channels.map((channel) => channel.buffer.slice(position.seq, head)));
      this.metrics.replayEvents.labels("buffer").inc(history.length);
      return { resumed: true, history };
    }
    const backlog = await this.bus.readAfter(keys, position.seq, head);
    if (isGap(backlog)) return { resumed: false, reset: "position-expired" };
    return { resumed: true, history: this.countReplayed(backlog) };
  }

  private async *countReplayed(events: AsyncIterable<BusEvent>): AsyncIterable<BusEvent> {
    const counter = this.metrics.replayEvents.labels(BUS_KINDS[this.bus.kind].replaySource);
    for await (const event of events) {
      counter.inc();
      yield event;
    }
  }

  private channelFor(key: StreamKey): Channel {
    const id = keyId(key);
    const existing = this.channels.get(id);
    if (existing !== undefined) {
      existing.idleSince = undefined;
      this.lingering.delete(existing);
      return existing;
    }
    const sessions = new Set<StreamSession>();
    // The buffer knows nothing before the subscription takes effect; resuming from earlier goes
    // to the bus. With `sync`, that is known once it answers (`open`).
    const covered = this.bus.sync === undefined;
    const buffer = new ReplayBuffer<StreamEvent>(
      this.options.replayBufferSize,
      covered ? this.bus.head() : Number.MAX_SAFE_INTEGER,
    );
    const flushWhenIdle = this.options.flushWhenIdle === true;
    const unsubscribe = this.bus.subscribe(key, (busEvent) => {
      const event = this.frame(this.bus.epoch, busEvent);
      if (event === undefined) return;
      buffer.push(event);
      for (const session of sessions) session.push(event);
      // Handed to all its streams: when the loop was idle, the frames leave now instead of at
      // the end of the turn (see `flushIfIdle`) — on the in-process bus, before the publish
      // call's own answer.
      if (flushWhenIdle) flushIfIdle();
    });
    const channel: Channel = { id, key, buffer, sessions, unsubscribe, covered };
    this.channels.set(id, channel);
    return channel;
  }

  frameSent(session: StreamSession): void {
    this.metrics.framesSent[session.sink.transport]++;
  }

  outOfOrder(session: StreamSession, event: StreamEvent): void {
    // Never a silent gap: the client learns that an event before its position was missed, and
    // its position stays valid for a resume.
    this.metrics.streamResets.labels("out-of-order").inc();
    this.options.onError?.(new Error(`event ${event.seq} arrived after ${session.position} on a live stream`));
    const id = formatEventId(this.bus.epoch, session.position);
    session.interject(
      toResetEvent(this.bus.epoch, session.position, session.keys[0] as StreamKey, "out-of-order", id, this.now()),
    );
  }

  slowConsumer(session: StreamSession): void {
    this.metrics.sseSlowConsumerDisconnects.labels(session.sink.transport).inc();
  }

  /** The session ended: detach it from its channels (they linger for a quick reconnect). */
  sessionClosed(session: StreamSession): void {
    if (!this.sessions.delete(session)) return;
    this.metrics.sseConnectionsActive.labels(session.sink.transport).dec();
    for (const key of session.keys) {
      const id = keyId(key);
      const channel = this.channels.get(id);
      if (channel === undefined) continue;
      channel.sessions.delete(session);
      if (channel.sessions.size === 0) {
        channel.idleSince = this.now();
        this.lingering.add(channel);
      }
      if (key.topic !== undefined) this.options.topicStreams?.closed(key.tenant, key.topic, session.owner.userId);
    }
  }

  private tick(): void {
    const now = this.now();
    for (const session of this.sessions) session.tick(now);
    for (const channel of this.lingering) {
      if (channel.idleSince !== undefined && now - channel.idleSince >= this.options.lingerMs) {
        channel.unsubscribe();
        this.channels.delete(channel.id);
        this.lingering.delete(channel);
      }
    }
  }
}
