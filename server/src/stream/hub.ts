import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { keyId, type StreamKey } from "@circl-bff/shared";
import type { BusEvent, EventBus, Unsubscribe } from "../bus/event-bus.js";
import { isGap } from "../bus/event-bus.js";
import { parseEventId } from "../bus/position.js";
import { RecentBySeq } from "../bus/recent-by-seq.js";
import { mergeBySeq, ReplayBuffer } from "../bus/replay-buffer.js";
import type { Metrics } from "../metrics.js";
import { type StreamEvent, toPresenceEvent, toResetEvent, toStreamEvent } from "./stream-event.js";
import { type SessionOwner, StreamSession } from "./stream-session.js";
import type { EndReason, StreamSink } from "./stream-sink.js";

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

export type HubOptions = {
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
};

export type OpenRequest = {
  tenantId: string;
  userId: string;
  lastEventId?: string;
  types?: readonly string[];
  /** Topics of the tenant to follow (already granted), besides the personal and tenant keys. */
  topics?: readonly string[];
  /** Also deliver `presence.join` / `presence.leave` of those topics. */
  presence?: boolean;
  /** When the credential that opened the stream expires (epoch ms); the stream ends then. */
  expiresAt?: number;
  /** Ids of the credential that opened the stream, and when it was issued (for revocation). */
  tokenIds?: readonly string[];
  issuedAt?: number;
  sink: StreamSink;
};

/** How long a resume waits for this instance to catch up with a position another one handed out. */
const HEAD_WAIT_MS = 2000;

/** One stream key's live feed on this instance: its bus subscription, replay buffer and streams. */
type Channel = {
  readonly id: string;
  readonly key: StreamKey;
  readonly buffer: ReplayBuffer<StreamEvent>;
  readonly sessions: Set<StreamSession>;
  readonly unsubscribe: Unsubscribe;
  /** Since when no stream uses it (a reconnect within `lingerMs` still finds its buffer). */
  idleSince?: number;
};

/** Whose stream it is and the credential that opened it (what revocation matches on). */
export type StreamOpener = Readonly<Pick<OpenRequest, "tenantId" | "userId" | "tokenIds" | "issuedAt">>;

type Plan =
  | {
      resumed: true;
      history: Iterable<StreamEvent> | AsyncIterable<BusEvent>;
      /** The client already has everything up to here (live events up to it were queued). */
      skipThrough?: number;
    }
  | { resumed: false; reset?: string };

/**
 * The fan-out hub, written once for both transports. One bus subscription per key however many
 * connections share it; each event is enveloped and serialised once and handed to all of them.
 */
export class Hub implements SessionOwner {
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
    const { sink } = request;
    const transport = sink.transport;
    const { tenantId, userId } = request;
    const topics = [...new Set(request.topics ?? [])];
    // The channels' own key objects: a stream keeps no copies of its own.
    const channels = [
      this.channelFor({ tenant: tenantId, user: userId }),
      this.channelFor({ tenant: tenantId }),
      ...topics.map((topic) => this.channelFor({ tenant: tenantId, topic })),
    ];
    const keys = channels.map((channel) => channel.key);
    const now = this.now();
    const maxDurationAt = now + this.options.maxConnectionMs;
    const expiresAt = request.expiresAt ?? Number.POSITIVE_INFINITY;
    const session = new StreamSession(
      this,
      { tenantId, userId, tokenIds: request.tokenIds, issuedAt: request.issuedAt },
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
    const head = this.bus.head();
    session.ready = this.catchUp(session, request, epoch, head, channels, keys).catch((error: unknown) => {
      this.options.onError?.(error);
      session.end("shutdown");
    });
    return session;
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
      if (plan.skipThrough !== undefined) session.skipThrough(plan.skipThrough);
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
    session.goLive();
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

  /** Ends the streams whose opening request matches (e.g. a revoked user's). Returns how many. */
  endStreams(match: (opener: StreamOpener) => boolean, reason: EndReason): number {
    let ended = 0;
    for (const session of [...this.sessions]) {
      if (!match(session.opener)) continue;
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
    if (position.seq > head) {
      // Another instance may have handed this position out a moment before this one saw it.
      const reached = (await this.bus.waitForHead?.(position.seq, HEAD_WAIT_MS)) ?? false;
      return reached
        ? { resumed: true, history: [], skipThrough: position.seq }
        : { resumed: false, reset: "unknown-id" };
    }
    if (position.seq === head) return { resumed: true, history: [] };
    if (channels.every((channel) => channel.buffer.completeAfter <= position.seq)) {
      const history = mergeBySeq(channels.map((channel) => channel.buffer.slice(position.seq, head)));
      this.metrics.replayEvents.labels("buffer").inc(history.length);
      return { resumed: true, history };
    }
    const backlog = await this.bus.readAfter(keys, position.seq, head);
    if (isGap(backlog)) return { resumed: false, reset: "position-expired" };
    return { resumed: true, history: this.countReplayed(backlog) };
  }

  private async *countReplayed(events: AsyncIterable<BusEvent>): AsyncIterable<BusEvent> {
    const counter = this.metrics.replayEvents.labels(this.bus.replaySource);
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
    // The buffer knows nothing before this moment; resuming from earlier goes to the bus.
    const buffer = new ReplayBuffer<StreamEvent>(this.options.replayBufferSize, this.bus.head());
    const unsubscribe = this.bus.subscribe(key, (busEvent) => {
      const event = this.frame(this.bus.epoch, busEvent);
      if (event === undefined) return;
      buffer.push(event);
      for (const session of sessions) session.push(event);
    });
    const channel: Channel = { id, key, buffer, sessions, unsubscribe };
    this.channels.set(id, channel);
    return channel;
  }

  frameSent(session: StreamSession): void {
    this.metrics.framesSent[session.sink.transport]++;
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
      if (key.topic !== undefined) this.options.topicStreams?.closed(key.tenant, key.topic, session.opener.userId);
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
