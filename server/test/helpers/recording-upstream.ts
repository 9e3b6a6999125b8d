import http from "node:http";
import { type AddressInfo, connect } from "node:net";

export type RecordedRequest = {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The body as received; empty for streaming handlers, which read it themselves. */
  body: Buffer;
};

export type UpstreamHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  recorded: RecordedRequest,
) => void | Promise<void>;

/** Answers every request with what it received, as JSON. */
export const echoHandler: UpstreamHandler = (_req, res, recorded) => {
  const text = JSON.stringify({
    method: recorded.method,
    url: recorded.url,
    headers: recorded.headers,
    body: recorded.body.toString("base64"),
  });
  res.writeHead(200, { "content-type": "application/json" }).end(text);
};

/**
 * A real upstream HTTP server that records every request that reaches it (method, raw URL,
 * headers, body), so tests can assert what the gateway forwarded, and that nothing was.
 */
export class RecordingUpstream {
  readonly requests: RecordedRequest[] = [];
  handler: UpstreamHandler;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    handler: UpstreamHandler,
    private readonly streaming: boolean,
  ) {
    this.handler = handler;
  }

  /** `streaming`: the handler is called at once and reads the body itself (big uploads). */
  static async start(handler: UpstreamHandler = echoHandler, options: { streaming?: boolean } = {}) {
    let upstream: RecordingUpstream | undefined;
    const server = http.createServer((req, res) => upstream?.receive(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const { port } = server.address() as AddressInfo;
    upstream = new RecordingUpstream(server, `http://127.0.0.1:${port}`, handler, options.streaming ?? false);
    return upstream;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const recorded: RecordedRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.alloc(0),
    };
    this.requests.push(recorded);
    const run = () => {
      Promise.resolve(this.handler(req, res, recorded)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
        else res.destroy();
      });
    };
    if (this.streaming) {
      run();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      recorded.body = Buffer.concat(chunks);
      run();
    });
  }
}

/** A plain HTTP/1.1 request over a raw socket: the target is sent byte for byte, unnormalised. */
export function rawRequest(
  baseUrl: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = split === -1 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split === -1 ? "" : text.slice(split + 4) });
    });
    const lines = [`GET ${target} HTTP/1.1`, `host: ${hostname}:${port}`, "connection: close"];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    // write, not end: a half-closed client socket makes Node abort the request mid-way
    socket.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
  });
}
