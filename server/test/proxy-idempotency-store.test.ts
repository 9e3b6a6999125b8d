import { describe, expect, it } from "vitest";
import { IdempotencyStore, type StoredResponse } from "../src/proxy/idempotency-store.js";

function response(status: number, bytes = 10): StoredResponse {
  return { status, headers: { "content-type": "text/plain" }, body: Buffer.alloc(bytes, 1) };
}

function store(options: Partial<ConstructorParameters<typeof IdempotencyStore>[0]> = {}) {
  let clock = 0;
  const s = new IdempotencyStore({
    ttlMs: 1000,
    maxEntries: 100,
    maxTotalBytes: 1_000_000,
    maxResponseBytes: 1000,
    now: () => clock,
    ...options,
  });
  return { s, advance: (ms: number) => (clock += ms) };
}

async function own(s: IdempotencyStore, key: string, fingerprint = "POST /a") {
  const acquired = await s.acquire(key, fingerprint);
  if (acquired.kind !== "owner") throw new Error(`expected to own ${key}, got ${acquired.kind}`);
  return acquired.finish;
}

describe("IdempotencyStore", () => {
  it("replays a stored answer for the same fingerprint until it expires", async () => {
    const { s, advance } = store();
    (await own(s, "k"))(response(201));
    expect(await s.acquire("k", "POST /a")).toEqual({ kind: "replay", response: response(201) });
    expect(await s.acquire("k", "PUT /a")).toEqual({ kind: "mismatch" });
    advance(1001);
    expect((await s.acquire("k", "POST /a")).kind).toBe("owner");
    expect(s.size).toBe(0);
  });

  it("makes duplicates wait for the owner, then replay (or own, when nothing was stored)", async () => {
    const { s } = store();
    const finish = await own(s, "k");
    const waiting = [s.acquire("k", "POST /a"), s.acquire("k", "POST /a")];
    expect(await s.acquire("k", "DELETE /a")).toEqual({ kind: "mismatch" });
    finish(response(200));
    finish(response(500)); // later calls are ignored
    for (const result of await Promise.all(waiting))
      expect(result).toEqual({ kind: "replay", response: response(200) });

    const second = await own(s, "other");
    const next = s.acquire("other", "POST /a");
    second(undefined);
    expect((await next).kind).toBe("owner");
  });

  it("stores neither 5xx/408/429 nor bodies over maxResponseBytes", async () => {
    const { s } = store({ maxResponseBytes: 100 });
    for (const [key, answer] of [
      ["a", response(500)],
      ["b", response(503)],
      ["c", response(408)],
      ["d", response(429)],
      ["e", response(200, 101)],
    ] as const) {
      (await own(s, key))(answer);
    }
    expect(s.size).toBe(0);
    (await own(s, "f"))(response(404, 100));
    expect(s.size).toBe(1);
  });

  it("evicts the oldest answers beyond maxEntries or maxTotalBytes", async () => {
    const { s } = store({ maxEntries: 2 });
    for (const key of ["1", "2", "3"]) (await own(s, key))(response(200));
    expect(s.size).toBe(2);
    expect((await s.acquire("1", "POST /a")).kind).toBe("owner");
    expect((await s.acquire("3", "POST /a")).kind).toBe("replay");

    // each entry counts its body plus 512 bytes of bookkeeping
    const { s: small } = store({ maxTotalBytes: 2 * (512 + 100), maxResponseBytes: 100 });
    for (const key of ["1", "2", "3"]) (await own(small, key))(response(200, 100));
    expect(small.size).toBe(2);
    expect((await small.acquire("1", "POST /a")).kind).toBe("owner");
  });
});
