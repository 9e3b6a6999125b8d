import http from "node:http";
import type { Readable } from "node:stream";

export type HttpResult = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

/** One HTTP/1.1 request with node:http (which, unlike fetch, sends any header it is given). */
export function httpCall(
  url: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string | Readable } = {},
): Promise<HttpResult> {
  const { body } = options;
  const headers = { ...options.headers };
  // node:http sends DELETE/OPTIONS bodies without framing unless the length is given.
  if ((typeof body === "string" || Buffer.isBuffer(body)) && headers["content-length"] === undefined) {
    headers["content-length"] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? "GET", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body === undefined) req.end();
    else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export function json(result: HttpResult): Record<string, unknown> {
  return JSON.parse(result.body.toString("utf8")) as Record<string, unknown>;
}
