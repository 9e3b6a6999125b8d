import http from "node:http";
import type { Readable } from "node:stream";

/** An answer read whole: `bytes` as received, `body` as UTF-8 text. */
export class HttpResult {
  constructor(
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    readonly bytes: Buffer,
  ) {}

  get body(): string {
    return this.bytes.toString("utf8");
  }
}

/**
 * One HTTP/1.1 request over a fresh socket with node:http (which, unlike fetch, sends any header
 * it is given), optionally from another loopback address.
 */
export function request(
  url: string,
  options: {
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: Buffer | string | Readable;
    localAddress?: string;
  } = {},
): Promise<HttpResult> {
  const { body } = options;
  const headers = { ...options.headers };
  // node:http sends DELETE/OPTIONS bodies without framing unless the length is given.
  if ((typeof body === "string" || Buffer.isBuffer(body)) && headers["content-length"] === undefined) {
    headers["content-length"] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? "GET", headers, localAddress: options.localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(new HttpResult(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body === undefined) req.end();
    else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export function json(result: HttpResult): Record<string, unknown> {
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight; results in call order. */
export async function inBatches<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await fn(i);
      }
    }),
  );
  return results;
}
