import { setTimeout as delay } from "node:timers/promises";
import type { H2Client } from "./h2-client.js";
import type { ResumingSseReader } from "./resuming-sse-reader.js";

export type PublishOutcome = { n: number; status: string; id?: string; attempts: number };

/**
 * Publishes `{type, data: n, to: "tenant"}` for n = 1, 2, … through the proxy, one every
 * `intervalMs` whatever the answers take (as independent clients would), until `stop()`. A
 * publish that is not answered 200 (a gateway shutting down answers 503, the proxy 502 when the
 * connection closed under it) is sent again with the same idempotency key, so each n is stored
 * once however often it is sent.
 */
export class TickPublisher {
  /** Indexed by n - 1; filled as the answers come. */
  readonly outcomes: PublishOutcome[] = [];
  /** Every non-200 answer on the way, by status (0: no answer) and who answered (gateway or proxy). */
  readonly retries = new Map<string, number>();
  private answered = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(
    private readonly client: H2Client,
    private readonly token: string,
    private readonly type: string,
    private readonly intervalMs = 10,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Resolves once `count` more publishes than now have been answered. */
  more(count: number): Promise<void> {
    const target = this.answered + count;
    return new Promise((resolve) => this.waiters.push({ count: target, resolve }));
  }

  /** Stops publishing, waits for the answers in flight; resolves with every outcome, by n. */
  async stop(): Promise<PublishOutcome[]> {
    this.stopped = true;
    await this.loop;
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    return this.outcomes;
  }

  private async run(): Promise<void> {
    const started = performance.now();
    for (let n = 1; !this.stopped; n++) {
      const due = started + (n - 1) * this.intervalMs - performance.now();
      if (due > 0) await delay(due);
      const publish = this.publish(n).then((outcome) => {
        this.outcomes[n - 1] = outcome;
        this.answered++;
        for (const waiter of this.waiters.filter((w) => w.count <= this.answered)) waiter.resolve();
        this.waiters = this.waiters.filter((w) => w.count > this.answered);
      });
      this.inFlight.add(publish);
      void publish.finally(() => this.inFlight.delete(publish));
    }
  }

  private async publish(n: number): Promise<PublishOutcome> {
    const body = JSON.stringify({ type: this.type, data: n, to: "tenant", idempotencyKey: `${this.type}-${n}` });
    for (let attempts = 1; ; attempts++) {
      const response = await this.client.request(
        "POST",
        "/events/publish",
        { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
        body,
      );
      if (response.status === 200) {
        const answer = JSON.parse(response.body) as { status: string; id?: string };
        return { n, status: answer.status, ...(answer.id === undefined ? {} : { id: answer.id }), attempts };
      }
      // The gateway answers in its JSON error shape; the proxy's own refusals are not JSON.
      const from = response.status === 0 ? "" : response.body.startsWith("{") ? " gateway" : " proxy";
      const key = `${response.status}${from}`;
      this.retries.set(key, (this.retries.get(key) ?? 0) + 1);
      if (attempts >= 300)
        throw new Error(`publish ${n} failed ${attempts} times: ${response.status} ${response.body}`);
      await delay(50);
    }
  }
}

/** The sequence number of an event id (`<epoch>-<seq>`). */
export function seqOf(id: string): number {
  return Number(id.slice(id.lastIndexOf("-") + 1));
}

/** What went wrong on the streams, counted, so a failure reads as a summary rather than 500 arrays. */
export function deliveryProblems(readers: ResumingSseReader[], expected: number[], expectedIds?: string[]) {
  const problems = {
    wrongCount: 0,
    notExactlyOnce: 0,
    outOfOrder: 0,
    idsNotIncreasing: 0,
    unexpectedIds: 0,
    resets: 0,
  };
  const examples: string[] = [];
  const seq = seqOf;
  const want = [...expected].sort((a, b) => a - b).join(",");
  readers.forEach((reader, index) => {
    const events = reader.events.filter((event) => event.type !== "reset");
    if (events.length !== reader.events.length) problems.resets++;
    const data = events.map((event) => event.data as number);
    if (data.length !== expected.length) {
      problems.wrongCount++;
      if (examples.length < 5) examples.push(`stream ${index}: ${data.length} events, expected ${expected.length}`);
    }
    if ([...data].sort((a, b) => a - b).join(",") !== want) problems.notExactlyOnce++;
    if (data.join(",") !== expected.join(",")) {
      problems.outOfOrder++;
      const at = data.findIndex((value, i) => value !== expected[i]);
      if (examples.length < 5) examples.push(`stream ${index}: at ${at} got ${data[at]}, expected ${expected[at]}`);
    }
    if (!events.every((event, i) => i === 0 || seq(event.id) > seq((events[i - 1] as { id: string }).id))) {
      problems.idsNotIncreasing++;
    }
    if (expectedIds !== undefined && events.map((event) => event.id).join(",") !== expectedIds.join(",")) {
      problems.unexpectedIds++;
    }
  });
  return { problems, examples };
}

/** Polls `/ready` of every gateway directly every `intervalMs` and keeps every answer other than 200. */
export function watchReadiness(urls: string[], intervalMs = 100) {
  const failures: string[] = [];
  let polls = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(
        urls.map(async (url) => {
          let answer: string;
          try {
            const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
            answer = response.status === 200 ? "" : `${response.status} ${await response.text()}`;
          } catch (error) {
            answer = String(error);
          }
          polls++;
          if (answer !== "") failures.push(`${new Date().toISOString()} ${url}: ${answer}`);
        }),
      );
      await delay(intervalMs);
    }
  })();
  return {
    failures,
    get polls() {
      return polls;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
