import type { StreamKey } from "@circl-bff/shared";
import { type JetStreamManager, type JsMsg, jetstream, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeMessage, type InvalidReason, type MessageCatalog, type RawMessage } from "./bus-message.js";
import {
  type BusEvent,
  type BusPublishResult,
  type ControlMessage,
  controlMessageSchema,
  type DeadLetters,
  type EventBus,
  type Gap,
  type OutgoingEvent,
  type Unsubscribe,
} from "./event-bus.js";
import { BacklogReader } from "./nats-backlog.js";
import { type BusLogger, connectNats, watchConnection, withTimeout } from "./nats-connection.js";
import { LiveDelivery, type LiveMetrics } from "./nats-live.js";
import { NatsPublisher } from "./nats-publisher.js";
import { ensureStream, isStreamNotFound, type StreamSettings, streamEpoch } from "./nats-stream-setup.js";

export type { BusLogger } from "./nats-connection.js";
export { isTransient } from "./nats-publisher.js";

type Inc = { inc(value?: number): void };
type Settable = { set(value: number): void };

/** What the bus reports; `Metrics` from metrics.ts fits, the bus does not import app code. */
export type NatsBusMetrics = LiveMetrics & {
  natsMessagesInvalid: { labels(reason: InvalidReason): Inc };
  natsReconnects: Inc;
  natsSlowConsumerEvents: Inc;
  publishQueueDepth: Settable;
  publishDlqSize: Settable;
};

/**
 * How long the bus may be without a NATS connection, or with live delivery waiting for JetStream,
 * before `/ready` says so. Losing one node of a cluster is a reconnect to another node within
 * milliseconds and a leader election of a few seconds, during which the read-back after the
 * reconnect waits: were `/ready` to fail for that, a load balancer would drop every instance
 * connected to the node at once (the topology test kills the stream leader's node under load). A
 * real outage still shows after it.
 */
const READY_GRACE_MS = { disconnected: 3000, waiting: 20_000 };

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

/**
 * The JetStream engine, assembled from its parts: the connection (`nats-connection.ts`), the
 * stream's set-up and checks (`nats-stream-setup.ts`), publishing with its journal and retry
 * queue (`nats-publisher.ts`), interest-based live delivery (`nats-live.ts`) and backlog reads
 * (`nats-backlog.ts`). One stream over `events.>`; positions are stream sequences and the epoch
 * is the stream's creation time (docs/nats.md).
 */
export class NatsBus implements EventBus {
  readonly kind = "nats";
  readonly epoch: string;
  readonly deadLetters: DeadLetters;
  private readonly publisher: NatsPublisher;
  private readonly backlog: BacklogReader;
  private readonly live: LiveDelivery;
  private connected = true;
  private closed = false;
  private replaced: string | undefined;
  /** The live head when the connection dropped: a reconnect reads back from there. */
  private headAtDisconnect = 0;
  private disconnectedAt = 0;
  private checking: Promise<void> | undefined;
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private readonly subscriptions: Subscription[] = [];

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    info: StreamInfo,
    private readonly options: NatsBusOptions,
  ) {
    const js = jetstream(nc, { timeout: options.publishTimeoutMs });
    this.epoch = streamEpoch(info);
    const name = options.stream.name;
    this.publisher = new NatsPublisher(nc, js, {
      streamName: name,
      epoch: this.epoch,
      publishTimeoutMs: options.publishTimeoutMs,
      queue: options.queue,
      journalDir: options.journalDir,
      metrics: options.metrics,
      logger: options.logger,
      canSend: () => this.connected && this.replaced === undefined,
      isAvailable: () => !this.closed && this.replaced === undefined,
    });
    this.deadLetters = this.publisher.deadLetters;
    this.backlog = new BacklogReader(js, jsm, {
      streamName: name,
      epoch: this.epoch,
      isReplaced: () => this.replaced !== undefined,
      decode: (message, key, live) => this.decodeStored(message, key, live),
    });
    this.live = new LiveDelivery(nc, {
      streamName: name,
      startSeq: info.state.last_seq,
      streamLastSeq: () => this.streamLastSeq(),
      decode: (message, subject, seq, key) => this.decodeLive(message, subject, seq, key),
      backlog: this.backlog,
      metrics: options.metrics,
      logger: options.logger,
    });
  }

  /** Connects (failing fast when NATS is unreachable at startup), sets the stream up, starts live delivery. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connectNats(options.servers, options.connectionName ?? "circl-bff");
    try {
      const jsm = await jetstreamManager(nc);
      const info = await ensureStream(jsm, options.stream);
      const bus = new NatsBus(nc, jsm, info, options);
      await bus.publisher.start();
      bus.startControl();
      bus.watchAdvisories();
      bus.watch();
      options.logger.info(
        { stream: options.stream.name, epoch: bus.epoch, lastSeq: info.state.last_seq },
        "NATS JetStream bus connected",
      );
      return bus;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  head(): number {
    return this.live.head();
  }

  sync(): Promise<number> {
    return this.live.sync();
  }

  /** Connected and delivering right now. */
  isReady(): boolean {
    return this.connected && !this.closed && this.replaced === undefined && !this.live.isStalled();
  }

  /** For `/ready`: a disconnect or live delivery waiting for JetStream counts once it lasts (`READY_GRACE_MS`). */
  readyForTraffic(): boolean {
    if (this.closed || this.replaced !== undefined) return false;
    if (!this.connected && Date.now() - this.disconnectedAt >= READY_GRACE_MS.disconnected) return false;
    return !this.live.isStalled(READY_GRACE_MS.waiting);
  }

  publish(key: StreamKey, event: OutgoingEvent, opts?: { msgId?: string }): Promise<BusPublishResult> {
    return this.publisher.publish(key, event, opts);
  }

  subscribe(key: StreamKey, onEvent: (event: BusEvent) => void): Unsubscribe {
    return this.live.subscribe(key, onEvent);
  }

  readAfter(keys: readonly StreamKey[], after: number, upTo: number): Promise<AsyncIterable<BusEvent> | Gap> {
    return this.backlog.readAfter(keys, after, upTo);
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
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.controlListeners.clear();
    await this.publisher.close(this.options.drainTimeoutMs);
    this.live.close();
    this.backlog.clear();
    await withTimeout(
      this.nc.drain().catch(() => undefined),
      this.options.drainTimeoutMs,
    );
    if (!this.nc.isClosed()) await this.nc.close();
  }

  /** The stream's last sequence; a stream found deleted or recreated stops the bus. */
  private async streamLastSeq(): Promise<number> {
    let info: StreamInfo;
    try {
      info = await this.jsm.streams.info(this.options.stream.name);
    } catch (error) {
      if (isStreamNotFound(error)) this.markReplaced("stream deleted");
      throw error;
    }
    if (streamEpoch(info) !== this.epoch) {
      this.markReplaced("stream recreated");
      throw new Error("the JetStream stream was recreated");
    }
    return info.state.last_seq;
  }

  /** One control subject per stream, so deployments sharing a NATS cluster stay apart. */
  private controlSubject(): string {
    return `circl-bff.control.${this.options.stream.name}`;
  }

  private startControl(): void {
    const subscription = this.nc.subscribe(this.controlSubject(), {
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
    this.subscriptions.push(subscription);
  }

  /**
   * JetStream's advisories about the stream. A new leader: messages the old one stored but had
   * not re-published yet are lost to core NATS, so live delivery reads back from a few seconds
   * before. Deleted: its positions mean nothing any more, and a stream created again under the
   * name would re-publish its own sequences on the same subjects.
   */
  private watchAdvisories(): void {
    const name = this.options.stream.name;
    this.subscriptions.push(
      this.nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${name}`, {
        callback: (error) => {
          if (error === null && !this.closed) this.live.suspectLoss("stream leader elected");
        },
      }),
      this.nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.DELETED.${name}`, {
        callback: (error) => {
          if (error === null) this.markReplaced("stream deleted");
        },
      }),
    );
  }

  private watch(): void {
    watchConnection(this.nc, {
      disconnected: (server) => {
        if (this.connected) {
          this.headAtDisconnect = this.live.head();
          this.disconnectedAt = Date.now();
        }
        this.connected = false;
        this.options.logger.warn({ server }, "NATS disconnected");
      },
      reconnected: (server) => {
        this.connected = true;
        this.options.metrics.natsReconnects.inc();
        this.options.logger.info({ server }, "NATS reconnected");
        this.publisher.kick();
        if (!this.closed && this.replaced === undefined) {
          void this.checkStream();
          this.live.reconnected(this.headAtDisconnect);
        }
      },
      slowConsumer: (detail) => {
        this.options.metrics.natsSlowConsumerEvents.inc();
        this.options.logger.warn({ detail }, "NATS slow consumer: live delivery reads back from JetStream");
        if (!this.closed) this.live.suspectLoss("slow consumer");
      },
    });
  }

  /** After a reconnect: the stream must still be the one whose positions we hand out. */
  private checkStream(): Promise<void> {
    this.checking ??= this.streamLastSeq()
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  private decodeLive(message: Msg, subject: string, seq: number, key: StreamKey): BusEvent | undefined {
    // nats-server 2.10+ re-publishes the storage time; 2.9 does not, so the time of arrival stands in.
    const stamp = message.headers?.get("Nats-Time-Stamp");
    const parsed = stamp ? Date.parse(stamp) : Number.NaN;
    return this.decode(
      {
        subject,
        seq,
        data: message.data,
        timestamp: new Date(Number.isNaN(parsed) ? Date.now() : parsed).toISOString(),
      },
      key,
      true,
    );
  }

  private decodeStored(message: JsMsg, key: StreamKey, live: boolean): BusEvent | undefined {
    if (live) this.options.metrics.natsMessagesReceived.inc();
    return this.decode(
      {
        subject: message.subject,
        seq: message.seq,
        data: message.data,
        timestamp: new Date(Number(message.info.timestampNanos / 1e6)).toISOString(),
      },
      key,
      live,
    );
  }

  /** `live`: a first delivery on this instance (an invalid message is counted and logged once). */
  private decode(message: RawMessage, key: StreamKey, live: boolean): BusEvent | undefined {
    if (this.replaced !== undefined || this.closed) return undefined;
    const decoded = decodeMessage(message, this.options.maxMessageBytes, key, this.options.catalog);
    if (decoded.ok) return decoded.event;
    if (live) {
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

  private markReplaced(reason: string): void {
    if (this.replaced !== undefined || this.closed) return;
    this.replaced = reason;
    this.live.close();
    this.backlog.clear();
    this.options.logger.error(
      { stream: this.options.stream.name, epoch: this.epoch, reason },
      "the JetStream stream was deleted or replaced; restart the gateway to adopt the new stream",
    );
    this.options.onStreamReplaced?.(reason);
  }
}
