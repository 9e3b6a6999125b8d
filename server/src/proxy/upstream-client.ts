import { type Dispatcher, Pool } from "undici";

/**
 * The one connection pool to `UPSTREAM_URL` (keep-alive, undici), shared by the raw proxy
 * (through @fastify/reply-from) and the typed operations. Every request goes to its origin: no
 * caller can name another host.
 */
export class UpstreamClient {
  readonly pool: Pool;
  /** `scheme://host:port` of `UPSTREAM_URL`. */
  readonly origin: string;
  /** The path of `UPSTREAM_URL` without a trailing `/` ("" for none), prefixed to every call. */
  readonly basePath: string;

  constructor(
    url: URL,
    readonly timeoutMs: number,
  ) {
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.pool = new Pool(this.origin, {
      connections: 128,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(timeoutMs, 10_000),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  /** The upstream path for a checked path below the proxy prefix (no leading `/`, still encoded). */
  pathFor(rest: string): string {
    return `${this.basePath}/${rest}`;
  }

  /** One buffered-by-the-caller request (typed operations); the raw proxy streams through reply-from. */
  request(options: {
    method: Dispatcher.HttpMethod;
    path: string;
    headers: Record<string, string | string[] | undefined>;
    body?: string;
  }): Promise<Dispatcher.ResponseData> {
    return this.pool.request({
      ...options,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** Ends every upstream connection, in-flight requests included (the app is closing). */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
