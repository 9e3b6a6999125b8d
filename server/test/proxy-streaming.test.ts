import { createHash } from "node:crypto";
import http from "node:http";
import { pipeline, Readable } from "node:stream";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { RecordingUpstream } from "./helpers/recording-upstream.js";

const TOTAL = 20 * 1024 * 1024;
const CHUNK = 64 * 1024;
const SAMPLE_EVERY = 2 * 1024 * 1024;
/** Live memory may grow by stream buffers (a few 64 KiB high-water marks), never by the payload. */
const MAX_GROWTH = 6 * 1024 * 1024;

v8.setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Live (post-GC) JS heap plus Buffer memory of this process: gateway, upstream and client all run here. */
function liveBytes(): number {
  // twice: Buffer memory is released by callbacks that run after the first collection
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** 20 MiB produced on demand, 64 KiB at a time, so the producer itself holds almost nothing. */
function payload(): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= TOTAL) {
        this.push(null);
        return;
      }
      const chunk = Buffer.alloc(CHUNK, (sent / CHUNK) % 251);
      sent += CHUNK;
      this.push(chunk);
    },
  });
}

const expectedHash = (() => {
  const hash = createHash("sha256");
  for (let sent = 0; sent < TOTAL; sent += CHUNK) hash.update(Buffer.alloc(CHUNK, (sent / CHUNK) % 251));
  return hash.digest("hex");
})();

/** Hashes a stream while sampling live memory every 2 MiB; resolves with the byte count, hash and peak growth. */
function consume(stream: Readable, baseline: number): Promise<{ bytes: number; hash: string; growth: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    let nextSample = SAMPLE_EVERY;
    let growth = 0;
    stream.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes >= nextSample) {
        nextSample += SAMPLE_EVERY;
        growth = Math.max(growth, liveBytes() - baseline);
      }
    });
    stream.on("end", () => resolve({ bytes, hash: hash.digest("hex"), growth }));
    stream.on("error", reject);
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayFor(upstream: RecordingUpstream): Promise<Gateway> {
  const gw = await startGateway({ UPSTREAM_URL: upstream.url, PROXY_BODY_LIMIT_BYTES: String(32 * 1024 * 1024) });
  cleanups.push(() => gw.close());
  return gw;
}

describe("large bodies stream through the proxy", () => {
  it("a 20 MiB download arrives intact while live memory stays bounded", async () => {
    const upstream = await RecordingUpstream.start(
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(TOTAL) });
        pipeline(payload(), res, () => {});
      },
      { streaming: true },
    );
    cleanups.push(() => upstream.close());
    const gw = await gatewayFor(upstream);
    const token = await gw.token();
    const baseline = liveBytes();

    const result = await new Promise<{ bytes: number; hash: string; growth: number }>((resolve, reject) => {
      http
        .get(`${gw.url}/api/big`, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          expect(res.headers["content-length"]).toBe(String(TOTAL));
          consume(res, baseline).then(resolve, reject);
        })
        .on("error", reject);
    });
    expect(result.bytes).toBe(TOTAL);
    expect(result.hash).toBe(expectedHash);
    expect(result.growth, `live memory grew by ${result.growth} bytes`).toBeLessThan(MAX_GROWTH);
  });

  it("a 20 MiB upload arrives intact while live memory stays bounded", async () => {
    let seen: Promise<{ bytes: number; hash: string; growth: number }> | undefined;
    let baseline = 0;
    const upstream = await RecordingUpstream.start(
      async (req, res) => {
        seen = consume(req, baseline);
        const result = await seen;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ bytes: result.bytes }));
      },
      { streaming: true },
    );
    cleanups.push(() => upstream.close());
    const gw = await gatewayFor(upstream);
    const token = await gw.token();
    baseline = liveBytes();

    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${gw.url}/api/upload`,
        {
          method: "PUT",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      pipeline(payload(), req, (error) => {
        if (error) reject(error);
      });
    });
    expect(status).toBe(200);
    const result = await (seen as Promise<{ bytes: number; hash: string; growth: number }>);
    expect(result.bytes).toBe(TOTAL);
    expect(result.hash).toBe(expectedHash);
    expect(result.growth, `live memory grew by ${result.growth} bytes`).toBeLessThan(MAX_GROWTH);
  });
});
