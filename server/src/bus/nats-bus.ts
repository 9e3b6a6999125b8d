import { randomUUID } from "node:crypto";
import { keyId, type StreamKey, subjectForKey, tenantWildcardSubject } from "@circl-bff/shared";
import {
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { decodeMessage, encodeMessage, type InvalidReason, type MessageCatalog } from "./bus-message.js";
import { ClusterDeadLetters } from "./cluster-dead-letters.js";
import {
  type BusEvent,
  type BusPublishResult,
  BusUnavailableError,
  type ControlMessage,
  controlMessageSchema,
  type EventBus,
  EventTooLargeError,
  type Gap,
  type OutgoingEvent,
  type Unsubscribe,
} from "./event-bus.js";
import { fromList, KeyListeners } from "./key-listeners.js";
import {
  ensureStream,
  isStreamNotFound,
  STREAM_SUBJECT,
  type StreamSettings,
  streamEpoch,
} from "./nats-stream-setup.js";
import { PublishJournal } from "./publish-journal.js";
import { type DeadLetters, type PendingPublish, PublishQueue, type SendOutcome } from "./publish-queue.js";
import { RecentBySeq } from "./recent-by-seq.js";
import { Slots } from "./slots.js";

type Inc = { inc(value?: number): void };
type Settable = { set(value: number): void };

/** What the bus reports; `Metrics` from metrics.ts fits, the bus does not import app code. */
export type NatsBusMetrics = {
  natsMessagesReceived: Inc;
  natsMessagesInvalid: { labels(reason: InvalidReason): Inc };
  natsReconnects: Inc;
  natsLiveRestarts: Inc;
  publishQueueDepth: Settable;
  publishDlqSize: Settable;
};

/** A pino-compatible logger (the app's `app.log.child(...)`). */
export type BusLogger = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type NatsBusOptions = {
  servers: string[];
  stream: StreamSettings;
  /** Messages with a larger body are counted as invalid and skipped. */
  maxMessageBytes: number;
  /** Backends' messages are checked against it; a mismatch is counted as invalid and skipped. */
  catalog?: MessageCatalog;
  /** How long one JetStream publish waits for its ack before the event goes to the retry queue. */
  publishTimeoutMs: number;
  queue: { maxSize: number; maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  /**
   * Where queued publishes are journaled before they are answered `queued` (fsynced, recovered
   * by the next instance of the same stream). Unset: nothing is queued, an unreachable bus
   * answers 503 with Retry-After.
   */
  journalDir?: string;
  /** How long `close()` keeps trying to publish what is still queued. */
  drainTimeoutMs: number;
  metrics: NatsBusMetrics;
  logger: BusLogger;
  /**
   * The stream was deleted or replaced under the running gateway. Its positions no longer mean
   * anything, so the bus stops delivering and reports not ready; the owner should restart the
   * process, which adopts (or creates) the new stream under a new epoch.
   */
  onStreamReplaced?: (reason: string) => void;
  connectionName?: string;
};

const BACKLOG_CHUNK = 1000;
/**
 * Backlog reads in flight per instance, and the messages each pulls at once. nats-server buffers
 * pulled messages per connection and cuts a "slow consumer" off beyond 64 MB: measured with 100
 * streams resuming together (and pulls of 1,000 messages), it did, and the resumes stalled. At
 * most 16 × 256 messages are pulled at once (~1 MB at the benchmark's event size); pulls bounded
 * by bytes instead (1 MiB) cost a fifth of the catch-up rate (40k vs 50k events/s).
 */
const BACKLOG_READS = 16;
const BACKLOG_PULL_MESSAGES = 256;
/**
 * Decoded backlog events shared by reads of the same positions (a reconnect storm): at most
 * 10,000 events and 16 MiB of message bodies (~0.5 KB per event of the benchmark's size).
 */
const RECENT_BACKLOG = { maxItems: 10_000, maxBytes: 16 * 1024 * 1024 };
/** Messages held while the stream's identity is being re-checked (after a consumer reset). */
const MAX_HELD = 10_000;
/** How often the live consumer's progress is checked, and how long it may sit behind the stream. */
const LIVE_CHECK_MS = 1000;
const LIVE_STALL_MS = 2000;
/**
 * How long the bus may be without a NATS connection, or with its live consumer stalled, before
 * `/ready` says so. Losing one node of a cluster is a reconnect to another node within
 * milliseconds and, at worst, a consumer replaced by the watchdog within seconds: were `/ready`
 * to fail for that, a load balancer would drop every instance connected to the node at once (the
 * topology test kills the stream leader's node under load). A real outage still shows after it.
 */
const READY_GRACE_MS = 3000;

/**
 * The JetStream engine. One stream over `events.>`; positions are stream sequences and the
 * epoch is the stream's creation time. One ordered consumer per instance delivers every event
 * live and is demultiplexed by subject to the local listeners, so NATS-side cost does not
 * depend on the number of connected clients; resumes beyond the hub's buffers read the stream
 * with a short-lived ordered consumer filtered to the tenant.
 */
export class NatsBus implements EventBus {
  readonly kind = "nats";
  readonly replaySource = "jetstream";
  readonly deliversOnPublish = false;
  readonly epoch: string;
  readonly deadLetters: DeadLetters;
  /** Publishes waiting for NATS; also the dead-letter list. */
  private readonly queue: PublishQueue;
  private readonly clusterDeadLetters: ClusterDeadLetters;
  private journal: PublishJournal | undefined;
  /** Publishes being journaled: later ones queue behind them, never overtake them. */
  private journaling = 0;
  private lastSeq: number;
  private connected = true;
  private closed = false;
  private replaced: string | undefined;
  private suspect = false;
  private held: JsMsg[] = [];
  private verifying: Promise<void> | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private live: ConsumerMessages | undefined;
  /** The live consumer's progress as the watchdog last saw it (see `checkLive`). */
  private progress = { seq: 0, since: 0 };
  /** Behind the stream without progress for `LIVE_STALL_MS`: replaced; not ready if it stays so (`READY_GRACE_MS`). */
  private stalled = false;
  /** When the connection was lost and the consumer found stalled (for `READY_GRACE_MS`). */
  private disconnectedAt = 0;
  private stalledAt = 0;
  private checking = false;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly backlogs = new Set<ConsumerMessages>();
  private readonly backlogSlots = new Slots(BACKLOG_READS);
  private readonly recentBacklog = new RecentBySeq<BusEvent>(RECENT_BACKLOG);
  private readonly listeners = new KeyListeners();
  private headWaiters: { seq: number; wake: () => void; cancel: () => void }[] = [];
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private control: Subscription | undefined;
  private readonly js: JetStreamClient;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    info: StreamInfo,
    private readonly options: NatsBusOptions,
  ) {
    this.js = jetstream(nc, { timeout: options.publishTimeoutMs });
    this.epoch = streamEpoch(info);
    this.lastSeq = info.state.last_seq;
    this.queue = new PublishQueue({
      ...options.queue,
      send: (item) => this.send(item),
      canSend: () => this.connected && this.replaced === undefined,
      onSizes: (queued, dead) => {
        options.metrics.publishQueueDepth.set(queued);
        options.metrics.publishDlqSize.set(dead);
      },
      onDone: (item) => this.journal?.done(item.id),
      onBuried: (item, letter) =>
        this.journal?.dead(item.id, {
          attempts: letter.attempts,
          lastError: letter.lastError,
          failedAt: letter.failedAt,
        }),
      onRevived: (item) => this.journal?.revive(item.id),
      onDeadLetter: (item) =>
        options.logger.error(
          { id: item.id, subject: subjectForKey(item.key), attempts: item.attempts, error: item.lastError },
          "publish moved to the dead-letter list",
        ),
    });
    this.clusterDeadLetters = new ClusterDeadLetters(
      nc,
      `circl-bff.dead-letters.${options.stream.name}`,
      this.queue,
      (error) => options.logger.warn({ err: error }, "dead-letter request to other instances failed"),
    );
    this.deadLetters = this.clusterDeadLetters;
  }

  /** Connects (failing fast when NATS is unreachable at startup), sets the stream up, starts live delivery. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: options.servers,
      name: options.connectionName ?? "circl-bff",
      // A service reconnects forever; `/ready` reports the outage meanwhile.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // Otherwise every request (each JetStream publish) builds an Error and a TimeoutError up
      // front, stack traces included, for a message on the rare failure: ~15 µs of CPU per
      // publish call in the profile. Our logs say which call failed.
      noAsyncTraces: true,
    }).catch((error: unknown) => {
      throw new Error(
        `cannot connect to NATS (${options.servers.map(withoutCredentials).join(", ")}): ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await ensureStream(jsm, options.stream);
      const bus = new NatsBus(nc, jsm, info, options);
      await bus.openJournal();
      await bus.startLive();
      bus.startControl();
      bus.clusterDeadLetters.start();
      bus.watchConnection();
      bus.watchLive();
      options.logger.info(
        { stream: options.stream.name, epoch: bus.epoch, lastSeq: bus.lastSeq },
        "NATS JetStream bus connected",
      );
      return bus;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  head(): number {
    return this.lastSeq;
  }

  /** Connected and delivering right now. */
  isReady(): boolean {
    return this.connected && !this.closed && this.replaced === undefined && !this.stalled;
  }

  /** For `/ready`: a disconnect or a stall counts once it has lasted `READY_GRACE_MS`. */
  readyForTraffic(): boolean {
    if (this.closed || this.replaced !== undefined) return false;
    const now = Date.now();
    if (!this.connected && now - this.disconnectedAt >= READY_GRACE_MS) return false;
    return !(this.stalled && now - this.stalledAt >= READY_GRACE_MS);
  }

  async waitForHead(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.lastSeq) return true;
    if (!this.isReady()) return false;
    // A sequence the stream never assigned is unknown, not late: answer at once.
    const state = (await this.jsm.streams.info(this.options.stream.name)).state;
    if (seq > state.last_seq) return false;
    if (seq <= this.lastSeq) return true;
    return new Promise<boolean>((resolve) => {
      const waiter = {
        seq,
        wake: () => {
          clearTimeout(timer);
          resolve(true);
        },
        cancel: () => {
          clearTimeout(timer);
          resolve(false);
        },
      };
      const timer = setTimeout(() => {
        this.headWaiters = this.headWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.headWaiters.push(waiter);
    });
  }

  async publish(key: StreamKey, event: OutgoingEvent, opts?: { msgId?: string }): Promise<BusPublishResult> {
    if (this.closed || this.replaced !== undefined) throw new BusUnavailableError("the event bus is not available");
    const payload = encodeMessage(event);
    const maxPayload = this.nc.info?.max_payload;
    if (maxPayload !== undefined && payload.length > maxPayload) {
      throw new EventTooLargeError(`the event is larger than the NATS server accepts (${maxPayload} bytes)`);
    }
    // Every publish carries a msg id, so a retry after an unanswered attempt cannot store it twice.
    const msgId = opts?.msgId ?? randomUUID();
    // Behind queued publishes, or while disconnected (a JetStream publish would only time out).
    if (this.queue.size > 0 || this.journaling > 0 || !this.connected) return this.enqueue(key, event, msgId);
    try {
      const ack = await this.js.publish(subjectForKey(key), payload, {
        msgID: msgId,
        timeout: this.options.publishTimeoutMs,
      });
      return { status: ack.duplicate ? "duplicate" : "published", position: { epoch: this.epoch, seq: ack.seq } };
    } catch (error) {
      // Only an event the server refuses as such fails the call; anything else may pass later.
      if (isPermanent(error)) throw error;
      return this.enqueue(key, event, msgId);
    }
  }

  subscribe(key: StreamKey, onEvent: (event: BusEvent) => void): Unsubscribe {
    return this.listeners.add(key, onEvent);
  }

  async readAfter(keys: readonly StreamKey[], after: number, upTo: number): Promise<AsyncIterable<BusEvent> | Gap> {
    if (this.replaced !== undefined) return { gap: "stream replaced" };
    if (after >= upTo || keys.length === 0) return fromList([]);
    const before = await this.jsm.streams.info(this.options.stream.name);
    if (streamEpoch(before) !== this.epoch) return { gap: "stream replaced" };
    // Everything below first_seq is gone (age or size limit); an empty new stream reports 0.
    if (after + 1 < before.state.first_seq) return { gap: "position older than the stream's first sequence" };
    const tenants = new Set(keys.map((key) => key.tenant));
    // One filter subject: nats-server 2.9 has no multi-filter consumers (`filter_subjects`).
    const filter = tenants.size === 1 ? tenantWildcardSubject(keys[0]?.tenant as string) : STREAM_SUBJECT;
    return this.readBacklog(filter, new Map(keys.map((key) => [keyId(key), key])), after, upTo);
  }

  /** Core NATS, outside the stream: control messages are for the instances online now. */
  async publishControl(message: ControlMessage): Promise<void> {
    this.nc.publish(this.controlSubject(), JSON.stringify(message));
    await this.nc.flush();
  }

  onControl(listener: (message: ControlMessage) => void): Unsubscribe {
    this.controlListeners.add(listener);
    return () => this.controlListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.control?.unsubscribe();
    this.clusterDeadLetters.stop();
    this.controlListeners.clear();
    clearTimeout(this.verifyTimer);
    clearInterval(this.watchdog);
    for (const waiter of this.headWaiters.splice(0)) waiter.cancel();
    const left = await this.queue.close(this.options.drainTimeoutMs);
    if (left > 0 && this.journal !== undefined) {
      this.options.logger.warn(
        { count: left, journal: this.journal.path },
        "queued publishes left in the journal for the next instance",
      );
    } else if (left > 0) this.options.logger.error({ count: left }, "queued publishes lost at shutdown");
    await this.journal?.close();
    this.live?.stop();
    for (const backlog of this.backlogs) backlog.stop();
    this.recentBacklog.clear();
    this.listeners.clear();
    await withTimeout(
      this.nc.drain().catch(() => undefined),
      this.options.drainTimeoutMs,
    );
    if (!this.nc.isClosed()) await this.nc.close();
  }

  /** One control subject per stream, so deployments sharing a NATS cluster stay apart. */
  private controlSubject(): string {
    return `circl-bff.control.${this.options.stream.name}`;
  }

  private startControl(): void {
    this.control = this.nc.subscribe(this.controlSubject(), {
      callback: (error, message) => {
        if (error !== null) return;
        let parsed: ControlMessage;
        try {
          parsed = controlMessageSchema.parse(JSON.parse(message.string()));
        } catch {
          this.options.logger.warn({ subject: message.subject }, "invalid control message skipped");
          return;
        }
        for (const listener of this.controlListeners) {
          try {
            listener(parsed);
          } catch (listenerError) {
            this.options.logger.error({ err: listenerError }, "control listener failed");
          }
        }
      },
    });
  }

  /** The consumer is created on the first read: a backlog nobody reads costs nothing. */
  private async *readBacklog(
    filter: string,
    /** The keys to read, by subject: a message of another subject is skipped before decoding. */
    wanted: ReadonlyMap<string, StreamKey>,
    after: number,
    upTo: number,
  ): AsyncIterable<BusEvent> {
    await this.backlogSlots.acquire();
    let consumer: Awaited<ReturnType<JetStreamClient["consumers"]["get"]>> | undefined;
    let messages: ConsumerMessages | undefined;
    try {
      consumer = await this.js.consumers.get(this.options.stream.name, {
        filter_subjects: filter,
        opt_start_seq: after + 1,
      });
      if ((await consumer.info(true)).num_pending === 0) return;
      messages = await consumer.consume({ max_messages: BACKLOG_PULL_MESSAGES });
      this.backlogs.add(messages);
      // Read in chunks and check after each one that the stream's front (age/size limits) has not
      // overtaken what was read: a message removed before it was read must become a `reset` on
      // the client's reconnect, never a silent hole.
      let confirmed = after;
      let chunk: BusEvent[] = [];
      for await (const message of messages) {
        const finished = message.seq >= upTo || message.info.pending === 0;
        const key = message.seq <= upTo ? wanted.get(message.subject) : undefined;
        if (key !== undefined) {
          const decoded = this.recentBacklog.get(message.seq) ?? this.decodeBacklog(message, key);
          if (decoded !== undefined) chunk.push(decoded);
        }
        if (finished || chunk.length >= BACKLOG_CHUNK) {
          const state = (await this.jsm.streams.info(this.options.stream.name)).state;
          if (confirmed + 1 < state.first_seq) throw new Error("backlog expired while it was being read");
          yield* chunk;
          chunk = [];
          confirmed = message.seq;
        }
        if (finished) break;
      }
    } finally {
      if (messages !== undefined) {
        this.backlogs.delete(messages);
        messages.stop();
      }
      consumer?.delete().catch(() => undefined);
      this.backlogSlots.release();
    }
  }

  /**
   * `queued` is a promise to deliver: it is answered only once the publish is on disk, in the
   * journal the next instance recovers (docs/nats.md). Without a journal, or when it cannot be
   * written, the publish is refused with 503 + Retry-After instead: the client retries.
   */
  private async enqueue(key: StreamKey, event: OutgoingEvent, msgId: string): Promise<BusPublishResult> {
    const journal = this.journal;
    if (journal === undefined) throw new BusUnavailableError("the event bus is unreachable, retry later");
    if (this.queue.full) throw new BusUnavailableError("the event bus is unreachable and the publish queue is full");
    const id = randomUUID();
    this.journaling++;
    try {
      await journal.add([{ id, key, event, msgId }]);
    } catch (error) {
      this.options.logger.error({ err: error }, "publish journal not written; publish refused");
      throw new BusUnavailableError("the event bus is unreachable and the publish cannot be queued, retry later");
    } finally {
      this.journaling--;
    }
    if (!this.queue.enqueue(key, event, msgId, id)) {
      journal.done(id);
      throw new BusUnavailableError("the event bus is unreachable and the publish queue is full");
    }
    return { status: "queued" };
  }

  /** Opens this instance's journal and queues what dead instances of this stream left in theirs. */
  private async openJournal(): Promise<void> {
    if (this.options.journalDir === undefined) return;
    let opened: Awaited<ReturnType<typeof PublishJournal.open>>;
    try {
      opened = await PublishJournal.open(this.options.journalDir, this.epoch, this.options.logger);
    } catch (error) {
      this.options.logger.error(
        { err: error, dir: this.options.journalDir },
        "publish journal unavailable: while NATS is unreachable, publishes are refused with 503 instead of queued",
      );
      return;
    }
    const { journal, recovered } = opened;
    this.journal = journal;
    for (const entry of recovered.pending) {
      if (!this.queue.enqueue(entry.key, entry.event, entry.msgId, entry.id)) journal.done(entry.id);
    }
    for (const entry of recovered.dead) {
      const { dead, ...item } = entry;
      this.queue.restoreDead({ ...item, attempts: dead.attempts, lastError: dead.lastError }, dead.failedAt);
    }
  }

  private async send(item: PendingPublish): Promise<SendOutcome> {
    try {
      await this.js.publish(subjectForKey(item.key), encodeMessage(item.event), {
        msgID: item.msgId,
        timeout: this.options.publishTimeoutMs,
      });
      return { ok: true };
    } catch (error) {
      return { ok: false, permanent: isPermanent(error), transient: isTransient(error), error: errorMessage(error) };
    }
  }

  private async startLive(): Promise<void> {
    const consumer = await this.js.consumers.get(this.options.stream.name, {
      filter_subjects: STREAM_SUBJECT,
      opt_start_seq: this.lastSeq + 1,
    });
    const live = await consumer.consume({
      max_messages: 512,
      callback: (message) => {
        try {
          this.onLive(message);
        } catch (error) {
          this.options.logger.error({ err: error }, "live delivery failed");
        }
      },
    });
    this.live = live;
    void (async () => {
      for await (const note of live.status()) {
        switch (note.type) {
          case "consumer_deleted":
          case "consumer_not_found":
          case "stream_not_found":
          case "reset":
          case "ordered_consumer_recreated":
            // The consumer was rebuilt or lost: make sure the stream is still the one whose
            // positions we hand out before delivering anything more.
            this.suspect = true;
            void this.verifyStream();
            break;
          default:
        }
      }
    })();
  }

  /**
   * The live consumer's watchdog. After a NATS restart or a node loss, the client's ordered
   * consumer can sit recreated with a stale pending count and no pull outstanding until two
   * heartbeats are missed (40-78 s, measured), while the connection and `/ready` look fine.
   * Every `LIVE_CHECK_MS` the stream's last sequence is compared with the last one delivered: a
   * consumer behind it that has not moved for `LIVE_STALL_MS` is replaced by a new one from the
   * next sequence, and the instance says not ready until delivery moves again. One stream-info
   * request per second per instance.
   */
  private watchLive(): void {
    this.progress = { seq: this.lastSeq, since: Date.now() };
    this.watchdog = setInterval(() => void this.checkLive(), LIVE_CHECK_MS);
    this.watchdog.unref();
  }

  private async checkLive(): Promise<void> {
    if (this.checking || this.closed || this.replaced !== undefined || !this.connected) return;
    this.checking = true;
    try {
      const now = Date.now();
      if (this.lastSeq !== this.progress.seq) {
        this.progress = { seq: this.lastSeq, since: now };
        if (this.stalled) this.options.logger.info({ seq: this.lastSeq }, "live delivery moving again");
        this.stalled = false;
        return;
      }
      const { last_seq: streamSeq } = (await this.jsm.streams.info(this.options.stream.name)).state;
      if (streamSeq <= this.lastSeq) {
        // Caught up with the stream: nothing is owed, whatever happened before.
        this.progress.since = Date.now();
        this.stalled = false;
        return;
      }
      if (this.lastSeq !== this.progress.seq) return;
      if (Date.now() - this.progress.since < LIVE_STALL_MS) return;
      if (!this.stalled) this.stalledAt = Date.now();
      this.stalled = true;
      this.options.metrics.natsLiveRestarts.inc();
      this.options.logger.warn(
        { seq: this.lastSeq, streamSeq, stalledMs: Date.now() - this.progress.since },
        "live consumer stalled behind the stream; replacing it",
      );
      this.live?.stop();
      await this.startLive();
      this.progress.since = Date.now();
    } catch {
      // Unreachable or slow: the next check tries again (`/ready` follows the connection).
    } finally {
      this.checking = false;
    }
  }

  private onLive(message: JsMsg): void {
    if (this.replaced !== undefined || this.closed) return;
    if (this.suspect) {
      if (this.held.length >= MAX_HELD) this.markReplaced("stream identity could not be verified");
      else this.held.push(message);
      return;
    }
    this.deliver(message);
  }

  private deliver(message: JsMsg): void {
    const seq = message.seq;
    if (seq <= this.lastSeq) return;
    this.options.metrics.natsMessagesReceived.inc();
    const event = this.decode(message, true);
    // The head moves past invalid messages too: their positions are valid ids.
    this.lastSeq = seq;
    if (this.headWaiters.length > 0) this.wakeHeadWaiters();
    if (event === undefined) return;
    this.listeners.dispatch(message.subject, event, (error) =>
      this.options.logger.error({ err: error, seq }, "event listener failed"),
    );
  }

  private wakeHeadWaiters(): void {
    const due = this.headWaiters.filter((w) => w.seq <= this.lastSeq);
    if (due.length === 0) return;
    this.headWaiters = this.headWaiters.filter((w) => w.seq > this.lastSeq);
    for (const waiter of due) waiter.wake();
  }

  private decodeBacklog(message: JsMsg, key: StreamKey): BusEvent | undefined {
    const event = this.decode(message, false, key);
    if (event !== undefined) this.recentBacklog.add(event, message.data.length);
    return event;
  }

  /** `key`: the message's key when the caller already knows it from the subject. */
  private decode(message: JsMsg, count: boolean, key?: StreamKey): BusEvent | undefined {
    const decoded = decodeMessage(
      {
        subject: message.subject,
        seq: message.seq,
        data: message.data,
        timestamp: new Date(Number(message.info.timestampNanos / 1e6)).toISOString(),
      },
      this.options.maxMessageBytes,
      key,
      this.options.catalog,
    );
    if (decoded.ok) return decoded.event;
    if (count) {
      this.options.metrics.natsMessagesInvalid.labels(decoded.reason).inc();
      // Never the payload: it is untrusted and may be large or sensitive.
      this.options.logger.warn(
        {
          seq: message.seq,
          subject: message.subject.slice(0, 256),
          bytes: message.data.length,
          reason: decoded.reason,
        },
        "skipped an invalid message",
      );
    }
    return undefined;
  }

  private verifyStream(): Promise<void> {
    if (this.verifying !== undefined) return this.verifying;
    clearTimeout(this.verifyTimer);
    this.verifying = (async () => {
      try {
        const info = await this.jsm.streams.info(this.options.stream.name);
        if (streamEpoch(info) !== this.epoch) {
          this.markReplaced("stream recreated");
          return;
        }
        this.suspect = false;
        const held = this.held;
        this.held = [];
        for (const message of held) this.deliver(message);
      } catch (error) {
        if (isStreamNotFound(error)) {
          this.markReplaced("stream deleted");
          return;
        }
        // Unreachable for now: check again (the reconnect handler also does).
        if (!this.closed) this.verifyTimer = setTimeout(() => void this.verifyStream(), 1000);
      }
    })().finally(() => {
      this.verifying = undefined;
    });
    return this.verifying;
  }

  private markReplaced(reason: string): void {
    if (this.replaced !== undefined || this.closed) return;
    this.replaced = reason;
    this.held = [];
    this.recentBacklog.clear();
    this.live?.stop();
    this.options.logger.error(
      { stream: this.options.stream.name, epoch: this.epoch, reason },
      "the JetStream stream was deleted or replaced; restart the gateway to adopt the new stream",
    );
    this.options.onStreamReplaced?.(reason);
  }

  private watchConnection(): void {
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type === "disconnect") {
          if (this.connected) this.disconnectedAt = Date.now();
          this.connected = false;
          this.options.logger.warn({ server: status.server }, "NATS disconnected");
        } else if (status.type === "reconnect") {
          this.connected = true;
          this.options.metrics.natsReconnects.inc();
          this.options.logger.info({ server: status.server }, "NATS reconnected");
          this.queue.kick();
          void this.verifyStream();
        }
      }
    })();
  }
}

/**
 * Errors after which the publish may succeed later (and may or may not have been stored). The
 * JetStream client reports "no responders" to a publish as `JetStreamNotEnabled`: that is what a
 * stream without a leader answers during an election, not a server without JetStream.
 */
export function isTransient(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 3) return false;
  const name = error.name;
  return (
    name === "TimeoutError" ||
    name === "NoRespondersError" ||
    name === "JetStreamNotEnabled" ||
    name === "ConnectionError" ||
    name === "RequestError" ||
    name === "ClosedConnectionError" ||
    name === "DrainingConnectionError" ||
    /timeout|no responders|disconnect|connection|temporarily unavailable|leader/i.test(error.message) ||
    isTransient(error.cause, depth + 1)
  );
}

/** Errors no retry can cure (the event itself is refused): a dead letter at once. */
function isPermanent(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === "InvalidArgumentError" ||
      /max_payload|maximum payload|message size exceeds|invalid subject/i.test(error.message))
  );
}

/** `nats://user:secret@host` → `nats://host`: server lists end up in logs. */
function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown error";
}

/** Waits for `promise`, at most `ms` (the timer does not outlive it). */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
