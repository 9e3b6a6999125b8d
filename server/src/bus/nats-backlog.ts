import { keyId, type StreamKey, tenantWildcardSubject } from "@circl-bff/shared";
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { BusEvent, Gap } from "./event-bus.js";
import { fromList } from "./key-listeners.js";
import { STREAM_SUBJECT, streamEpoch } from "./nats-stream-setup.js";
import { RecentBySeq } from "./recent-by-seq.js";
import { Slots } from "./slots.js";

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
/**
 * A read that receives nothing for this long is given up (and fails, never ends short): an
 * ordered consumer whose connection dropped can otherwise wait for missed heartbeats for a long
 * time. The callers retry (live delivery) or end the stream so the client resumes (history).
 */
const READ_IDLE_MS = 5000;

/** Turns a stored message of a known key into an event, or `undefined` (invalid: skipped). */
export type StoredDecoder = (message: JsMsg, key: StreamKey, live: boolean) => BusEvent | undefined;

export type BacklogReaderOptions = {
  streamName: string;
  epoch: string;
  decode: StoredDecoder;
  /** The stream was found deleted or recreated: its positions no longer mean anything. */
  isReplaced: () => boolean;
};

/**
 * Reads stored events of some stream keys between two positions: resumes beyond the hub's
 * buffers, and the live path's repairs and catch-ups. Each read is a short-lived ordered consumer
 * with one filter subject (nats-server 2.9 has no multi-filter consumers), filtered locally by
 * subject before anything is decoded.
 */
export class BacklogReader {
  private readonly reads = new Set<ConsumerMessages>();
  private readonly slots = new Slots(BACKLOG_READS);
  private readonly recent = new RecentBySeq<BusEvent>(RECENT_BACKLOG);

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: BacklogReaderOptions,
  ) {}

  /** The events of `keys` with `after < seq <= upTo`, merged in sequence order, or a gap. */
  async readAfter(keys: readonly StreamKey[], after: number, upTo: number): Promise<AsyncIterable<BusEvent> | Gap> {
    if (this.options.isReplaced()) return { gap: "stream replaced" };
    if (after >= upTo || keys.length === 0) return fromList([]);
    const before = await this.jsm.streams.info(this.options.streamName);
    if (streamEpoch(before) !== this.options.epoch) return { gap: "stream replaced" };
    // Everything below first_seq is gone (age or size limit); an empty new stream reports 0.
    if (after + 1 < before.state.first_seq) return { gap: "position older than the stream's first sequence" };
    return this.read(filterFor(keys), new Map(keys.map((key) => [keyId(key), key])), after, upTo, false);
  }

  /**
   * Stored events of `wanted` (by subject) with `after < seq <= upTo`, as the live path delivers
   * them (counted, invalid ones reported). Throws when the stream's front passed `after`.
   */
  async *readLive(wanted: ReadonlyMap<string, StreamKey>, after: number, upTo: number): AsyncIterable<BusEvent> {
    if (after >= upTo || wanted.size === 0) return;
    const keys = [...wanted.values()];
    yield* this.read(filterFor(keys), wanted, after, upTo, true);
  }

  clear(): void {
    for (const read of this.reads) read.stop();
    this.recent.clear();
  }

  /** The consumer is created on the first read: a backlog nobody reads costs nothing. */
  private async *read(
    filter: string,
    /** The keys to read, by subject: a message of another subject is skipped before decoding. */
    wanted: ReadonlyMap<string, StreamKey>,
    after: number,
    upTo: number,
    live: boolean,
  ): AsyncIterable<BusEvent> {
    await this.slots.acquire();
    let consumer: Awaited<ReturnType<JetStreamClient["consumers"]["get"]>> | undefined;
    let messages: ConsumerMessages | undefined;
    let lastProgress = Date.now();
    /** False while the reader holds the events (a slow client is not a stalled read). */
    let waiting = true;
    let complete = false;
    const idle = setInterval(() => {
      if (waiting && Date.now() - lastProgress > READ_IDLE_MS) messages?.stop(new Error("backlog read stalled"));
    }, 1000);
    try {
      consumer = await this.js.consumers.get(this.options.streamName, {
        filter_subjects: filter,
        opt_start_seq: after + 1,
      });
      if ((await consumer.info(true)).num_pending === 0) return;
      messages = await consumer.consume({ max_messages: BACKLOG_PULL_MESSAGES });
      this.reads.add(messages);
      // Read in chunks and check after each one that the stream's front (age/size limits) has not
      // overtaken what was read: a message removed before it was read must become a `reset` on
      // the client's reconnect, never a silent hole.
      let confirmed = after;
      let chunk: BusEvent[] = [];
      for await (const message of messages) {
        waiting = false;
        const finished = message.seq >= upTo || message.info.pending === 0;
        const key = message.seq <= upTo ? wanted.get(message.subject) : undefined;
        if (key !== undefined) {
          const decoded = live ? this.options.decode(message, key, true) : this.decodeShared(message, key);
          if (decoded !== undefined) chunk.push(decoded);
        }
        if (finished || chunk.length >= BACKLOG_CHUNK) {
          const state = (await this.jsm.streams.info(this.options.streamName)).state;
          if (confirmed + 1 < state.first_seq) throw new Error("backlog expired while it was being read");
          yield* chunk;
          chunk = [];
          confirmed = message.seq;
        }
        if (finished) {
          complete = true;
          break;
        }
        lastProgress = Date.now();
        waiting = true;
      }
      if (!complete) throw new Error("backlog read stopped before its end");
    } finally {
      clearInterval(idle);
      if (messages !== undefined) {
        this.reads.delete(messages);
        messages.stop();
      }
      consumer?.delete().catch(() => undefined);
      this.slots.release();
    }
  }

  private decodeShared(message: JsMsg, key: StreamKey): BusEvent | undefined {
    const cached = this.recent.get(message.seq);
    if (cached !== undefined) return cached;
    const event = this.options.decode(message, key, false);
    if (event !== undefined) this.recent.add(event, message.data.length);
    return event;
  }
}

/** The key's own subject, one tenant's wildcard when every key is of that tenant, else the whole stream. */
function filterFor(keys: readonly StreamKey[]): string {
  if (keys.length === 1) return keyId(keys[0] as StreamKey);
  const tenants = new Set(keys.map((key) => key.tenant));
  return tenants.size === 1 ? tenantWildcardSubject(keys[0]?.tenant as string) : STREAM_SUBJECT;
}
