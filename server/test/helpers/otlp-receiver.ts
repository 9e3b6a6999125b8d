import http from "node:http";
import type { AddressInfo } from "node:net";

/** A span as an OTLP/HTTP JSON export carries it, flattened with its resource's attributes. */
export type ReceivedSpan = {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
};

export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type OtlpAttribute = { key: string; value: OtlpValue };
type OtlpExport = {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
};

function attributes(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) {
    out[key] =
      value.stringValue ??
      (value.intValue === undefined ? undefined : Number(value.intValue)) ??
      value.boolValue ??
      value.doubleValue;
  }
  return out;
}

/**
 * An OTLP/HTTP trace receiver (a collector's `otlp` receiver, JSON protocol only): a plain
 * node:http server that accepts `POST /v1/traces` and keeps every span it is sent.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Bodies it could not read as OTLP JSON (a test asserts there are none). */
  readonly rejected: string[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    let receiver: OtlpReceiver | undefined;
    const server = http.createServer((req, res) => receiver?.receive(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const { port } = server.address() as AddressInfo;
    receiver = new OtlpReceiver(server, `http://127.0.0.1:${port}`);
    return receiver;
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  /**
   * Resolves once the trace's spans satisfy `wanted` and form one tree under the caller's span
   * `rootParentId` (every parent received). Instances export in batches that may arrive in any
   * order (a delivery span can leave before the HTTP span that caused it has ended), so a test
   * waits for the whole trace, not only for the span it expects last.
   */
  waitForTrace(
    traceId: string,
    rootParentId: string,
    wanted: (spans: ReceivedSpan[]) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<ReceivedSpan[]> {
    const complete = () => {
      const spans = this.trace(traceId);
      const ids = new Set(spans.map((s) => s.spanId));
      const connected = spans.every((s) => s.parentSpanId === rootParentId || ids.has(s.parentSpanId));
      return connected && wanted(spans);
    };
    return this.waitFor(complete, timeoutMs, what).then(() => this.trace(traceId));
  }

  /** Resolves once `check()` holds, re-checked on every export received; rejects after `timeoutMs`. */
  waitFor(check: () => boolean, timeoutMs = 10_000, what = "spans"): Promise<void> {
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
        const names = this.spans.map((s) => `${s.name} (${s.traceId.slice(0, 8)})`).join(", ");
        reject(new Error(`timed out waiting for ${what}; received: ${names || "nothing"}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (req.method !== "POST" || req.url !== "/v1/traces" || !/json/.test(req.headers["content-type"] ?? "")) {
        this.rejected.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
        res.writeHead(415).end();
        return;
      }
      try {
        this.add(JSON.parse(body) as OtlpExport);
      } catch {
        this.rejected.push(body.slice(0, 200));
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      const due = this.waiters.filter((w) => w.check());
      this.waiters = this.waiters.filter((w) => !due.includes(w));
      for (const waiter of due) waiter.resolve();
    });
  }

  private add(body: OtlpExport): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const resource = attributes(resourceSpans.resource?.attributes);
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? "",
            name: span.name,
            kind: span.kind,
            attributes: attributes(span.attributes),
            resource,
          });
        }
      }
    }
  }
}
