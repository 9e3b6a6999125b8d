/** A response as the client received it, kept to answer a repeat of the same request. */
export type StoredResponse = {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
};

type IdempotencyOptions = {
  /** How long a stored response answers repeats. */
  ttlMs: number;
  maxEntries: number;
  /** Budget for all stored bodies together. */
  maxTotalBytes: number;
  /** Larger responses are passed through but not stored (a repeat calls the upstream again). */
  maxResponseBytes: number;
  now: () => number;
};

type Acquired =
  | { kind: "replay"; response: StoredResponse }
  /** The key was used for another request (method and path) by the same user. */
  | { kind: "mismatch" }
  /** The caller performs the request and must call `finish` exactly once (later calls are ignored). */
  | { kind: "owner"; finish: (response: StoredResponse | undefined) => void };

type Entry = { fingerprint: string; response: StoredResponse; expiresAt: number; bytes: number };
type Flight = { fingerprint: string; done: Promise<void> };

/**
 * Idempotency-Key handling for upstream mutations (raw and typed share it): per user, a repeat
 * within the window gets the stored response without calling the upstream; a repeat while the
 * first is still running waits for it. Bounded by entry count and total bytes (oldest evicted
 * first); 5xx and 408/429 answers are not stored, so a retry after them reaches the upstream.
 */
export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  private totalBytes = 0;

  constructor(private readonly options: IdempotencyOptions) {}

  get maxResponseBytes(): number {
    return this.options.maxResponseBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  static key(tenantId: string, userId: string, idempotencyKey: string): string {
    return JSON.stringify([tenantId, userId, idempotencyKey]);
  }

  async acquire(key: string, fingerprint: string): Promise<Acquired> {
    for (;;) {
      this.prune();
      const entry = this.entries.get(key);
      if (entry !== undefined) {
        return entry.fingerprint === fingerprint ? { kind: "replay", response: entry.response } : { kind: "mismatch" };
      }
      const flight = this.flights.get(key);
      if (flight === undefined) break;
      if (flight.fingerprint !== fingerprint) return { kind: "mismatch" };
      await flight.done;
    }
    let resolve = () => {};
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    this.flights.set(key, { fingerprint, done });
    let finished = false;
    return {
      kind: "owner",
      finish: (response) => {
        if (finished) return;
        finished = true;
        if (response !== undefined) this.store(key, fingerprint, response);
        this.flights.delete(key);
        resolve();
      },
    };
  }

  private store(key: string, fingerprint: string, response: StoredResponse): void {
    const { status } = response;
    if (status >= 500 || status === 408 || status === 429) return;
    const bytes = response.body.length + 512;
    if (response.body.length > this.options.maxResponseBytes) return;
    this.entries.set(key, { fingerprint, response, expiresAt: this.options.now() + this.options.ttlMs, bytes });
    this.totalBytes += bytes;
    while (this.entries.size > this.options.maxEntries || this.totalBytes > this.options.maxTotalBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.remove(oldest.value);
    }
  }

  /** Entries are kept in insertion order with one TTL, so the expired ones are at the front. */
  private prune(): void {
    const now = this.options.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.remove(key);
    }
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.totalBytes -= entry.bytes;
  }
}

/** `Idempotency-Key`: 1–255 visible ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
