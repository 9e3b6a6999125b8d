import http2, { type ClientHttp2Stream } from "node:http2";
import type { H2Client } from "./h2-client.js";

export type ReceivedEvent = { id: string; type: string; data: unknown };

/**
 * An EventSource as a browser runs it, over HTTP/2: it records every event, and whenever the
 * stream ends, fails or is refused it reconnects after `retryMs` (plus jitter, so 500 of them do
 * not arrive in one burst) with `Last-Event-ID` set to the last id it received.
 */
export class ResumingSseReader {
  readonly events: ReceivedEvent[] = [];
  /** `data.resumed` of every `connected` event, in order (false on the first connection). */
  readonly connections: boolean[] = [];
  /** Statuses other than 200 the proxy or a gateway answered with, and transport errors ("error"). */
  readonly refusals: string[] = [];
  lastEventId: string | undefined;
  private stream: ClientHttp2Stream | undefined;
  private closed = false;
  private buffer = "";
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(
    private readonly client: H2Client,
    private readonly slot: number,
    private readonly path: string,
    private readonly token: string,
    private readonly retryMs = 200,
  ) {}

  open(): void {
    if (this.closed) return;
    this.buffer = "";
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: "text/event-stream" };
    if (this.lastEventId !== undefined) headers["last-event-id"] = this.lastEventId;
    let stream: ClientHttp2Stream;
    try {
      stream = this.client.session(this.slot).request({ ":method": "GET", ":path": this.path, ...headers });
    } catch {
      this.refusals.push("error");
      this.reconnect();
      return;
    }
    this.stream = stream;
    stream.setEncoding("utf8");
    stream.on("response", (h) => {
      const status = Number(h[":status"]);
      if (status !== 200) this.refusals.push(String(status));
    });
    stream.on("data", (chunk: string) => this.feed(chunk));
    stream.on("error", () => this.refusals.push("error"));
    stream.on("close", () => {
      if (this.stream === stream) this.reconnect();
    });
    stream.end();
  }

  /** Resolves once `check()` holds (checked after every chunk); rejects after `timeoutMs`. */
  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.path}: timed out waiting for ${what}; ${this.events.length} events`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.closed = true;
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
    this.stream = undefined;
  }

  private reconnect(): void {
    this.stream = undefined;
    if (this.closed) return;
    setTimeout(() => this.open(), this.retryMs + Math.random() * this.retryMs);
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let end = this.buffer.indexOf("\n\n");
    while (end !== -1) {
      this.parse(this.buffer.slice(0, end));
      this.buffer = this.buffer.slice(end + 2);
      end = this.buffer.indexOf("\n\n");
    }
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      if (waiter.check()) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve();
      }
    }
  }

  private parse(block: string): void {
    let id: string | undefined;
    let type = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("id: ")) id = line.slice(4);
      else if (line.startsWith("event: ")) type = line.slice(7);
      else if (line.startsWith("data: ")) data = line.slice(6);
    }
    if (type === "connected") {
      this.connections.push((JSON.parse(data) as { resumed: boolean }).resumed);
      return;
    }
    if (id === undefined) return; // comments (heartbeats), `retry:`
    this.lastEventId = id;
    this.events.push({ id, type, data: (JSON.parse(data) as { data: unknown }).data });
  }
}
