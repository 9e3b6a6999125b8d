import { Agent, request } from "node:http";
import { connect } from "node:net";

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** A JSON request over a shared keep-alive agent (publishing, readiness probes). */
export function httpJson(port, method, path, { body, headers = {}, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        agent,
        timeout: timeoutMs,
        headers: payload === undefined ? headers : { "content-type": "application/json", ...headers },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, text, json });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

const HEADER_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = Buffer.from("content-length:");

/**
 * A closed-loop GET load: `connections` keep-alive sockets, each sending the next request when
 * the previous answer is complete. Responses must carry `content-length` (the upstream sets it,
 * and both proxies pass it on). Returns request count and latencies in ms.
 */
export async function getLoad(port, path, headers, { connections, durationMs, warmupMs }) {
  const text = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
  const req = Buffer.from(text);
  const latencies = [];
  let count = 0;
  let measuring = false;
  let stopping = false;
  const errors = [];
  const sockets = [];
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise((resolve, reject) => {
          const socket = connect({ port, host: "127.0.0.1", noDelay: true }, resolve);
          socket.once("error", reject);
          sockets.push(socket);
        }),
    ),
  );
  for (const socket of sockets) {
    let rest = null;
    let sentAt = 0;
    const send = () => {
      if (stopping) return;
      sentAt = performance.now();
      socket.write(req);
    };
    socket.on("data", (chunk) => {
      let buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
      for (;;) {
        const end = buf.indexOf(HEADER_END);
        if (end === -1) break;
        const status = buf.toString("latin1", 9, 12);
        const lower = buf.toString("latin1", 0, end).toLowerCase();
        const at = lower.indexOf("content-length:");
        if (at === -1) {
          errors.push(`HTTP ${status} without content-length`);
          socket.destroy();
          return;
        }
        const length = Number.parseInt(lower.slice(at + CONTENT_LENGTH.length), 10);
        const total = end + 4 + length;
        if (buf.length < total) break;
        if (status !== "200") errors.push(`HTTP ${status}: ${buf.toString("utf8", end + 4, total)}`);
        if (measuring) {
          count++;
          latencies.push(performance.now() - sentAt);
        }
        buf = buf.subarray(total);
        send();
      }
      rest = buf.length > 0 ? buf : null;
    });
    socket.on("error", (error) => errors.push(error.message));
    send();
  }
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  measuring = true;
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stopping = true;
  for (const socket of sockets) socket.destroy();
  return { count, seconds, latencies, errors };
}
