import type { Identity } from "./identity.js";

/** A requested topic that is not granted: 403 / `FORBIDDEN`. */
export class TopicNotAllowedError extends Error {
  override readonly name = "TopicNotAllowedError";
  readonly statusCode = 403;
  constructor(readonly topic: string) {
    super(`topic not allowed: ${topic}`);
  }
}

/** `TOPIC_AUTH_URL` failed or timed out: 503 with `Retry-After`, never a grant. */
export class TopicAuthUnavailableError extends Error {
  override readonly name = "TopicAuthUnavailableError";
  readonly statusCode = 503;
  readonly retryAfterS = 5;
  constructor() {
    super("topic authorization is unavailable, retry later");
  }
}

const compiled = new Map<string, RegExp>();

/** `*` matches any run of topic characters; everything else matches itself. */
function patternRegExp(pattern: string): RegExp {
  let regexp = compiled.get(pattern);
  if (regexp === undefined) {
    const source = pattern
      .split("*")
      .map((part) => part.replace(/[.]/g, "\\."))
      .join("[A-Za-z0-9_.:-]*");
    regexp = new RegExp(`^${source}$`);
    if (compiled.size >= 10_000) compiled.clear();
    compiled.set(pattern, regexp);
  }
  return regexp;
}

function grantedByPatterns(patterns: readonly string[], topic: string): boolean {
  for (const pattern of patterns) {
    if (pattern === topic || (pattern.includes("*") && patternRegExp(pattern).test(topic))) return true;
  }
  return false;
}

type TopicAuthOptions = {
  /** Asked about topics no pattern grants; unset: such topics are refused. */
  url?: URL;
  cacheS: number;
  timeoutMs: number;
  now?: () => number;
  /** Most cached answers (tenant, user, topic); the oldest go first. */
  maxCacheEntries?: number;
};

/** What a `TOPIC_AUTH_URL` request carries besides the topics. */
export type TopicAuthRequest = { authorization?: string; requestId: string };

/**
 * Decides whether a user may follow (or publish to) topics: the token's patterns first, then
 * `TOPIC_AUTH_URL` for the rest, whose answers are cached per tenant, user and topic.
 */
export class TopicGrants {
  private readonly cache = new Map<string, { allowed: boolean; expiresAt: number }>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(private readonly options: TopicAuthOptions) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxCacheEntries ?? 100_000;
  }

  /** Resolves when every topic is granted; rejects with the first refused one, or when the hook fails. */
  async require(identity: Identity, topics: readonly string[], request: TopicAuthRequest): Promise<void> {
    const undecided: string[] = [];
    const now = this.now();
    for (const topic of topics) {
      if (grantedByPatterns(identity.topics, topic)) continue;
      if (this.options.url === undefined) throw new TopicNotAllowedError(topic);
      const cached = this.cache.get(cacheKey(identity, topic));
      if (cached !== undefined && cached.expiresAt > now) {
        if (!cached.allowed) throw new TopicNotAllowedError(topic);
        continue;
      }
      undecided.push(topic);
    }
    if (undecided.length === 0) return;
    const allowed = await this.ask(this.options.url as URL, identity, undecided, request);
    const expiresAt = this.now() + this.options.cacheS * 1000;
    for (const topic of undecided) this.remember(cacheKey(identity, topic), allowed.has(topic), expiresAt);
    const refused = undecided.find((topic) => !allowed.has(topic));
    if (refused !== undefined) throw new TopicNotAllowedError(refused);
  }

  private async ask(url: URL, identity: Identity, topics: string[], request: TopicAuthRequest): Promise<Set<string>> {
    let body: unknown;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(request.authorization === undefined ? {} : { authorization: request.authorization }),
          "x-tenant-id": identity.tenantId,
          "x-user-id": identity.userId,
          "x-request-id": request.requestId,
        },
        body: JSON.stringify({ topics }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: "error",
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new TopicAuthUnavailableError();
      }
      body = await response.json();
    } catch {
      throw new TopicAuthUnavailableError();
    }
    const list = (body as { allowed?: unknown } | null)?.allowed;
    if (!Array.isArray(list)) throw new TopicAuthUnavailableError();
    return new Set(list.filter((topic): topic is string => typeof topic === "string"));
  }

  private remember(key: string, allowed: boolean, expiresAt: number): void {
    if (this.options.cacheS <= 0) return;
    this.cache.delete(key);
    this.cache.set(key, { allowed, expiresAt });
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
  }
}

function cacheKey(identity: Identity, topic: string): string {
  return JSON.stringify([identity.tenantId, identity.userId, topic]);
}
