import type { AccessTokenVerifier } from "./access-token.js";
import type { Identity } from "./identity.js";

type VerifiedTokenCacheOptions = {
  /** Tokens remembered at once; the oldest is dropped beyond it. Default 10,000. */
  maxEntries?: number;
  /**
   * How long a verification is reused before the token is verified again (bounds how long a
   * key withdrawn from the JWKS keeps a token alive; jose's own JWKS cache holds keys 10 min).
   * Default 60 s.
   */
  maxAgeMs?: number;
};

/**
 * Remembers tokens that verified, so a client that calls the API many times with the same token
 * (a publisher) pays the signature check once a minute, not per call: it was a fifth of the CPU
 * of an `events.publish` call. The cache key is the whole token, signature included, so a hit
 * is a token that already verified; only the clock can change the answer, and a hit is honoured
 * strictly before `exp` (jose's rule: expired once `exp <= now` in whole seconds). Failures are
 * never cached.
 */
export function cacheVerifiedTokens(
  verify: AccessTokenVerifier,
  options: VerifiedTokenCacheOptions = {},
): AccessTokenVerifier {
  const maxEntries = options.maxEntries ?? 10_000;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const cache = new Map<string, { identity: Identity; until: number }>();
  return async (token) => {
    const now = Date.now();
    const hit = cache.get(token);
    if (hit !== undefined) {
      if (now < hit.until) return hit.identity;
      cache.delete(token);
    }
    const identity = await verify(token);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(token, { identity, until: Math.min(now + maxAgeMs, identity.exp * 1000) });
    return identity;
  };
}
