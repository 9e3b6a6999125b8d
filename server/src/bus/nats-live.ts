import { keyId, type StreamKey } from "@circl-bff/shared";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { busTracing } from "../telemetry/bus-tracing.js";
import type { BusEvent, Unsubscribe } from "./event-bus.js";
import type { BacklogReader } from "./nats-backlog.js";
import type { BusLogger } from "./nats-connection.js";
import { liveSubjectFor } from "./nats-stream-setup.js";

type Inc = { inc(value?: number): void };

export type LiveMetrics = {
  natsMessagesReceived: Inc;
  natsSubscriptionsActive: { set(value: number): void };
  natsGapRepairs: Inc;
};

export type LiveDeliveryOptions = {
  streamName: string;
  /** The stream's last sequence now (a JetStream stream-info request). */
  streamLastSeq: () => Promise<number>;
  /** Decodes a re-published message; `undefined` when it is invalid (counted and logged by it). */
  decode: (message: Msg, subject: string, seq: number, key: StreamKey) => BusEvent | undefined;
  backlog: BacklogReader;
  metrics: LiveMetrics;
  logger: BusLogger;
  /** The stream's position when the bus started: nothing before it is owed to anyone. */
  startSeq: number;
};

/** One stream key this instance follows: its core subscription, listeners and progress. */
type Feed = {
  readonly key: StreamKey;
  /** The key's stream subject (`events.…`), which is also its `keyId`. */
  readonly subject: string;
  readonly subscription: Subscription;
  readonly listeners: Set<(event: BusEvent) => void>;
  /**
   * Every event of the key up to this sequence has been delivered, or precedes the
   * subscription (it is in the store, read as history): a message whose `Nats-Last-Sequence` is
   * above it means one was lost on the way.
   */
  accountedUpTo: number;
  established: boolean;
};

/** Messages held while the pipeline waits for JetStream; beyond this a catch-up reads them from the store. */
const MAX_HELD = 10_000;
/** How long one piece of catch-up work may block live delivery before the instance says not ready. */
const STALL_MS = 2000;
/** How far back (in head samples, one a second) a catch-up after a leader change starts. */
const LEADER_CHANGE_LOOKBACK_S = 10;
const RETRY_MAX_MS = 2000;

/**
 * Interest-based live delivery. The stream re-publishes every stored message on core NATS
 * (`liveSubjectFor`); this instance subscribes there only for the keys its streams follow, so its
 * NATS traffic grows with its active keys, not with the whole event rate.
 *
 * Core NATS is at-most-once, so every message is checked: its `Nats-Last-Sequence` (the key's
 * previous sequence) must not be above what the key has accounted for, or a message was lost
 * and is read from JetStream before anything after it is delivered (`nats_gap_repairs_total`).
 * A reconnect, a slow-consumer report or a stream leader change reads every key's events since
 * its last safe point from JetStream. All of this runs through one ordered pipeline: while a
 * subscription is being set up or a repair reads JetStream, arriving messages wait in order.
 */
export class LiveDelivery {
  private headSeq: number;
  private readonly feeds = new Map<string, Feed>();
  /** Messages waiting for the pipeline (from `heldFrom` on). */
  private held: Msg[] = [];
  private heldFrom = 0;
  /** Pieces of work (set-up, repair, catch-up) queued or running; live messages wait while > 0. */
  private blocked = 0;
  private work: Promise<unknown> = Promise.resolve();
  /** Since when the piece of work running now has been running (stall detection). */
  private workSince = 0;
  private toEstablish: Feed[] = [];
  /** A set-up queued whose batch is still open (new subscriptions join it). */
  private batching = false;
  /** The latest set-up queued and not finished: it covers every feed subscribed before it. */
  private latestSetup: Promise<number> | undefined;
  private readonly samples: number[] = [];
  private readonly sampler: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: LiveDeliveryOptions,
  ) {
    this.headSeq = options.startSeq;
    this.sampler = setInterval(() => {
      this.samples.push(this.headSeq);
      if (this.samples.length > LEADER_CHANGE_LOOKBACK_S) this.samples.shift();
    }, 1000);
    this.sampler.unref();
  }

  /** The highest sequence up to which every followed key's events have been delivered. */
  head(): number {
    return this.headSeq;
  }

  get activeKeys(): number {
    return this.feeds.size;
  }

  /** A piece of catch-up work has been blocking live delivery for `ms` (JetStream unreachable). */
  isStalled(ms = STALL_MS): boolean {
    return this.blocked > 0 && Date.now() - this.workSince > ms;
  }

  subscribe(key: StreamKey, listener: (event: BusEvent) => void): Unsubscribe {
    const subject = keyId(key);
    let feed = this.feeds.get(subject);
    if (feed === undefined) feed = this.follow(key, subject);
    const own = feed;
    own.listeners.add(listener);
    return () => {
      own.listeners.delete(listener);
      if (own.listeners.size > 0 || this.feeds.get(subject) !== own) return;
      this.feeds.delete(subject);
      own.subscription.unsubscribe();
      this.options.metrics.natsSubscriptionsActive.set(this.feeds.size);
    };
  }

  /**
   * A position P such that every event of every key subscribed before this call is either in
   * the store with a sequence up to P, or will reach the key's listeners: the new subscriptions
   * are active on the server first.
   */
  sync(): Promise<number> {
    return this.latestSetup ?? this.options.streamLastSeq();
  }

  /** The connection came back: every key's events since the last one received are read from JetStream. */
  reconnected(lastBeforeDisconnect: number): void {
    this.catchUp(lastBeforeDisconnect, "reconnect");
  }

  /**
   * Messages may have been lost without this connection noticing (a slow consumer, a stream
   * leader lost with messages still on its way): read back from a point a few seconds old.
   */
  suspectLoss(reason: string): void {
    this.catchUp(this.samples[0] ?? this.options.startSeq, reason);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sampler);
    for (const feed of this.feeds.values()) feed.subscription.unsubscribe();
    this.feeds.clear();
    this.held = [];
    this.heldFrom = 0;
  }

  private follow(key: StreamKey, subject: string): Feed {
    const feed: Feed = {
      key,
      subject,
      listeners: new Set(),
      accountedUpTo: 0,
      established: false,
      subscription: this.nc.subscribe(liveSubjectFor(this.options.streamName, key), {
        callback: (error, message) => {
          if (error === null) this.onMessage(message);
        },
      }),
    };
    this.feeds.set(subject, feed);
    this.options.metrics.natsSubscriptionsActive.set(this.feeds.size);
    this.toEstablish.push(feed);
    if (!this.batching) {
      this.batching = true;
      // The batch is taken when the set-up starts (later subscriptions queue their own) and kept
      // across its retries.
      let batch: Feed[] | undefined;
      const setup = this.enqueue("subscribe", () => {
        if (batch === undefined) {
          this.batching = false;
          batch = this.toEstablish;
          this.toEstablish = [];
        }
        return this.establish(batch);
      });
      this.latestSetup = setup;
      const done = () => {
        if (this.latestSetup === setup) this.latestSetup = undefined;
      };
      void setup.then(done, done);
    }
    return feed;
  }

  /**
   * The new subscriptions are on the server once a flush returns (and, on a cluster, at the
   * stream's leader before its answer to a request sent after them); the stream's last sequence
   * read then splits what they will receive from what is already stored.
   */
  private async establish(batch: readonly Feed[]): Promise<number> {
    await this.nc.flush();
    const last = await this.options.streamLastSeq();
    for (const feed of batch) {
      feed.accountedUpTo = last;
      feed.established = true;
    }
    return last;
  }

  private onMessage(message: Msg): void {
    if (this.closed) return;
    this.options.metrics.natsMessagesReceived.inc();
    if (this.blocked > 0) this.hold(message);
    else if (!this.process(message)) this.held.push(message);
  }

  private hold(message: Msg): void {
    if (this.held.length - this.heldFrom < MAX_HELD) {
      this.held.push(message);
      return;
    }
    // Everything held is stored: drop it and read it back once the pipeline moves again.
    this.held = [];
    this.heldFrom = 0;
    this.catchUp(this.headSeq, "held messages overflowed");
  }

  /** Returns false when the message has to wait for the repair it queued (the caller holds it, first in line). */
  private process(message: Msg): boolean {
    const headers = message.headers;
    const seq = Number(headers?.get("Nats-Sequence"));
    const previous = Number(headers?.get("Nats-Last-Sequence"));
    const subject = headers?.get("Nats-Subject") ?? "";
    const feed = this.feeds.get(subject);
    if (feed === undefined || !feed.established || !Number.isSafeInteger(seq) || !Number.isSafeInteger(previous)) {
      return true;
    }
    if (seq <= feed.accountedUpTo) return true;
    if (previous > feed.accountedUpTo) {
      this.repair(feed, seq);
      return false;
    }
    feed.accountedUpTo = seq;
    if (seq > this.headSeq) this.headSeq = seq;
    const event = this.options.decode(message, subject, seq, feed.key);
    if (event === undefined) return true;
    // Traced: a span per instance, child of the publish span carried in the headers.
    if (busTracing !== undefined) busTracing.deliverNats(subject, seq, headers, () => this.dispatch(feed, event));
    else this.dispatch(feed, event);
    return true;
  }

  private dispatch(feed: Feed, event: BusEvent): void {
    for (const listener of feed.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.error({ err: error, seq: event.seq }, "event listener failed");
      }
    }
  }

  /** `feed` lost at least one message before `seq`: read its events up to `seq - 1` from JetStream first. */
  private repair(feed: Feed, seq: number): void {
    const from = feed.accountedUpTo;
    void this.enqueue("repair", async () => {
      if (this.feeds.get(feed.subject) !== feed) return;
      let delivered = 0;
      for await (const event of this.options.backlog.readLive(new Map([[feed.subject, feed.key]]), from, seq - 1)) {
        if (event.seq <= feed.accountedUpTo) continue;
        feed.accountedUpTo = event.seq;
        this.dispatch(feed, event);
        delivered++;
      }
      feed.accountedUpTo = Math.max(feed.accountedUpTo, seq - 1);
      this.options.metrics.natsGapRepairs.inc();
      this.options.logger.warn(
        { subject: feed.subject, after: from, before: seq, delivered },
        "lost live messages repaired from JetStream",
      );
    });
  }

  /** Reads every established key's events after `from` from JetStream, then lets live messages on. */
  private catchUp(from: number, reason: string): void {
    void this.enqueue("catch-up", async () => {
      const feeds = [...this.feeds.values()].filter((feed) => feed.established);
      const last = await this.options.streamLastSeq();
      const wanted = new Map(feeds.map((feed) => [feed.subject, feed.key]));
      let delivered = 0;
      for await (const event of this.options.backlog.readLive(wanted, from, last)) {
        const feed = this.feeds.get(keyId(event.key));
        if (feed === undefined || event.seq <= feed.accountedUpTo) continue;
        feed.accountedUpTo = event.seq;
        this.dispatch(feed, event);
        delivered++;
      }
      for (const feed of feeds) feed.accountedUpTo = Math.max(feed.accountedUpTo, last);
      if (last > this.headSeq) this.headSeq = last;
      // Events found that live delivery had not passed on: a gap, now repaired.
      if (delivered > 0) this.options.metrics.natsGapRepairs.inc();
      this.options.logger.info({ reason, from, to: last, keys: feeds.length, delivered }, "live delivery caught up");
    });
  }

  /**
   * Runs `task` after the work before it, retrying while JetStream cannot answer; live messages
   * wait meanwhile and are processed in order when nothing is left to do.
   */
  private enqueue<T>(what: string, task: () => Promise<T>): Promise<T> {
    if (this.blocked++ === 0) this.workSince = Date.now();
    const run = this.work.then(async () => {
      this.workSince = Date.now();
      this.options.logger.debug?.({ work: what, held: this.held.length - this.heldFrom }, "live delivery work starts");
      for (let attempt = 0; ; attempt++) {
        if (this.closed) throw new Error("the event bus is closed");
        try {
          return await task();
        } catch (error) {
          if (this.closed) throw error;
          if (attempt === 0) this.options.logger.warn({ err: error, work: what }, "live delivery waits for JetStream");
          await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, 100 * 2 ** attempt)));
        }
      }
    });
    this.work = run.then(
      () => this.finished(),
      () => this.finished(),
    );
    return run;
  }

  private finished(): void {
    this.options.logger.debug?.(
      { ms: Date.now() - this.workSince, held: this.held.length - this.heldFrom },
      "live delivery work done",
    );
    this.workSince = Date.now();
    if (--this.blocked > 0 || this.closed) return;
    while (this.blocked === 0 && this.heldFrom < this.held.length) {
      const message = this.held[this.heldFrom] as Msg;
      this.heldFrom++;
      if (!this.process(message)) {
        // It waits, first in line, for the repair it queued (which drains the rest later).
        this.heldFrom--;
        return;
      }
    }
    // Work queued by a listener meanwhile leaves the rest waiting.
    if (this.heldFrom < this.held.length) return;
    this.held = [];
    this.heldFrom = 0;
  }
}
