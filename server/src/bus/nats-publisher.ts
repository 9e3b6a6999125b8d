import { randomUUID } from "node:crypto";
import { type StreamKey, subjectForKey } from "@circl-bff/shared";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { busTracing } from "../telemetry/bus-tracing.js";
import { encodeMessage } from "./bus-message.js";
import { ClusterDeadLetters } from "./cluster-dead-letters.js";
import {
  type BusPublishResult,
  BusUnavailableError,
  type DeadLetters,
  EventTooLargeError,
  type OutgoingEvent,
} from "./event-bus.js";
import { type BusLogger, errorMessage } from "./nats-connection.js";
import { PublishJournal } from "./publish-journal.js";
import { type PendingPublish, PublishQueue, type SendOutcome } from "./publish-queue.js";

type Settable = { set(value: number): void };

export type NatsPublisherOptions = {
  streamName: string;
  epoch: string;
  /** How long one JetStream publish waits for its ack before the event goes to the retry queue. */
  publishTimeoutMs: number;
  queue: { maxSize: number; maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  /**
   * Where queued publishes are journaled before they are answered `queued` (fsynced, recovered
   * by the next instance of the same stream). Unset: nothing is queued, an unreachable bus
   * answers 503 with Retry-After.
   */
  journalDir?: string;
  metrics: { publishQueueDepth: Settable; publishDlqSize: Settable };
  logger: BusLogger;
  /** False while disconnected or after the stream was replaced: publishes queue instead. */
  canSend: () => boolean;
  /** False once closed or after the stream was replaced: publishes are refused. */
  isAvailable: () => boolean;
};

/**
 * Publishes to JetStream. A publish that cannot reach it (disconnected, no leader yet, a timeout)
 * is journaled and queued for retry, answered `queued`; one the server refuses as such fails.
 */
export class NatsPublisher {
  readonly deadLetters: DeadLetters;
  /** Publishes waiting for NATS; also the dead-letter list. */
  private readonly queue: PublishQueue;
  private readonly clusterDeadLetters: ClusterDeadLetters;
  private journal: PublishJournal | undefined;
  /** Publishes being journaled: later ones queue behind them, never overtake them. */
  private journaling = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly options: NatsPublisherOptions,
  ) {
    this.queue = new PublishQueue({
      ...options.queue,
      send: (item) => this.send(item),
      canSend: options.canSend,
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
      `circl-bff.dead-letters.${options.streamName}`,
      this.queue,
      (error) => options.logger.warn({ err: error }, "dead-letter request to other instances failed"),
    );
    this.deadLetters = this.clusterDeadLetters;
  }

  /** Opens this instance's journal, queues what dead instances of this stream left, answers dead-letter requests. */
  async start(): Promise<void> {
    await this.openJournal();
    this.clusterDeadLetters.start();
  }

  async publish(key: StreamKey, event: OutgoingEvent, opts?: { msgId?: string }): Promise<BusPublishResult> {
    if (!this.options.isAvailable()) throw new BusUnavailableError("the event bus is not available");
    const payload = encodeMessage(event);
    const maxPayload = this.nc.info?.max_payload;
    if (maxPayload !== undefined && payload.length > maxPayload) {
      throw new EventTooLargeError(`the event is larger than the NATS server accepts (${maxPayload} bytes)`);
    }
    // Every publish carries a msg id, so a retry after an unanswered attempt cannot store it twice.
    const msgId = opts?.msgId ?? randomUUID();
    // Behind queued publishes, or while disconnected (a JetStream publish would only time out).
    if (this.queue.size > 0 || this.journaling > 0 || !this.options.canSend()) return this.enqueue(key, event, msgId);
    try {
      const ack = await this.js.publish(subjectForKey(key), payload, {
        msgID: msgId,
        timeout: this.options.publishTimeoutMs,
        headers: busTracing?.natsHeaders(),
      });
      return {
        status: ack.duplicate ? "duplicate" : "published",
        position: { epoch: this.options.epoch, seq: ack.seq },
      };
    } catch (error) {
      // Only an event the server refuses as such fails the call; anything else may pass later.
      if (isPermanent(error)) throw error;
      return this.enqueue(key, event, msgId);
    }
  }

  /** The connection is back: retry what is queued now. */
  kick(): void {
    this.queue.kick();
  }

  /** Keeps publishing what is queued for up to `drainTimeoutMs`; what is left stays in the journal. */
  async close(drainTimeoutMs: number): Promise<void> {
    this.clusterDeadLetters.stop();
    const left = await this.queue.close(drainTimeoutMs);
    if (left > 0 && this.journal !== undefined) {
      this.options.logger.warn(
        { count: left, journal: this.journal.path },
        "queued publishes left in the journal for the next instance",
      );
    } else if (left > 0) this.options.logger.error({ count: left }, "queued publishes lost at shutdown");
    await this.journal?.close();
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

  private async openJournal(): Promise<void> {
    if (this.options.journalDir === undefined) return;
    let opened: Awaited<ReturnType<typeof PublishJournal.open>>;
    try {
      opened = await PublishJournal.open(this.options.journalDir, this.options.epoch, this.options.logger);
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
