import http from "node:http";

export type SseEvent = { id?: string; event: string; data: string };

type Waiter = { check: () => boolean; resolve: () => void };

/**
 * A byte-level SSE client over node:http: it records every frame and comment exactly as sent,
 * so tests can assert on content, order and counts.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** Set when the server ended the response (or the socket closed). */
  ended = false;
  private buffer = "";
  private waiters: Waiter[] = [];

  private constructor(
    private readonly req: http.ClientRequest,
    readonly res: http.IncomingMessage,
    readonly body: string,
  ) {}

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** Events other than `connected`, as parsed envelopes. */
  envelopes<T = { id: string; type: string; data: unknown; tenantId: string; userId?: string }>(): T[] {
    return this.events.filter((e) => e.event !== "connected").map((e) => JSON.parse(e.data) as T);
  }

  dataEvents(): SseEvent[] {
    return this.events.filter((e) => e.event !== "connected" && e.event !== "reset");
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { accept: "text/event-stream", ...headers } }, (res) => {
        if (res.statusCode !== 200) {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.on("end", () => resolve(new SseClient(req, res, body)));
          return;
        }
        const client = new SseClient(req, res, "");
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => client.feed(chunk));
        res.on("close", () => {
          client.ended = true;
          client.notify();
        });
        resolve(client);
      });
      req.on("error", reject);
    });
  }

  /** Resolves once `check()` holds; rejects after `timeoutMs` with what was received. */
  waitFor(check: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.event))}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  waitForEvent(event: string, count = 1, timeoutMs = 5000): Promise<void> {
    return this.waitFor(
      () => this.events.filter((e) => e.event === event).length >= count,
      timeoutMs,
      `${count}× ${event}`,
    );
  }

  waitForData(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.dataEvents().length >= count, timeoutMs, `${count} data events`);
  }

  waitForEnd(timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.ended, timeoutMs, "end of stream");
  }

  close(): void {
    this.req.destroy();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let index = this.buffer.indexOf("\n\n");
    while (index !== -1) {
      const block = this.buffer.slice(0, index);
      this.buffer = this.buffer.slice(index + 2);
      this.parse(block);
      index = this.buffer.indexOf("\n\n");
    }
    this.notify();
  }

  private parse(block: string): void {
    const event: SseEvent = { event: "message", data: "" };
    const data: string[] = [];
    let isEvent = false;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
      else if (field === "data") data.push(value);
      else continue;
      isEvent = true;
    }
    if (!isEvent || (data.length === 0 && event.id === undefined)) return;
    event.data = data.join("\n");
    this.events.push(event);
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.check()) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve();
      }
    }
  }
}
