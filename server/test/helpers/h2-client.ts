import http2, { type ClientHttp2Session } from "node:http2";

export type H2Response = { status: number; headers: http2.IncomingHttpHeaders; body: string };

/**
 * HTTP/2 over verified TLS to one origin (the topology's proxy), over `sessions` connections:
 * a browser's single connection would do, but a proxy caps the streams of one connection (Caddy:
 * 250), and 500 event streams need more. A session that closes is opened again on next use.
 */
export class H2Client {
  private readonly pool: (ClientHttp2Session | undefined)[];
  private next = 0;

  constructor(
    readonly origin: string,
    private readonly ca: string,
    sessions = 1,
  ) {
    this.pool = Array.from({ length: sessions }, () => undefined);
  }

  /** The session for slot `index` (round robin when omitted). */
  session(index?: number): ClientHttp2Session {
    const slot = index ?? this.next++ % this.pool.length;
    const current = this.pool[slot % this.pool.length];
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = http2.connect(this.origin, { ca: this.ca });
    session.on("error", () => undefined); // surfaced on the streams that used it
    session.setMaxListeners(0);
    this.pool[slot % this.pool.length] = session;
    return session;
  }

  /** One request with a string body; never rejects for an HTTP status (status 0: no answer). */
  request(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
    timeoutMs = 10_000,
  ): Promise<H2Response> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (response: H2Response) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(response);
      };
      const failed = (error: unknown) => done({ status: 0, headers: {}, body: String(error) });
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session().request({ ":method": method, ":path": path, ...headers });
      } catch (error) {
        failed(error);
        return;
      }
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        failed(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let text = "";
      stream.setEncoding("utf8");
      stream.on("response", (h) => {
        responseHeaders = h;
      });
      stream.on("data", (chunk: string) => {
        text += chunk;
      });
      stream.on("end", () =>
        done({ status: Number(responseHeaders[":status"] ?? 0), headers: responseHeaders, body: text }),
      );
      stream.on("error", failed);
      stream.on("close", () => failed(new Error(`${method} ${path}: stream closed`)));
      stream.end(body);
    });
  }

  close(): void {
    for (const session of this.pool) session?.destroy();
  }
}
