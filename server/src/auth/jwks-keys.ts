import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { AuthError } from "./auth-error.js";

type JwksOptions = { cooldownMs: number; cacheMaxAgeMs: number; timeoutMs: number };

/** The key set could not be fetched (network, timeout, a non-200 or non-JSON answer): not the token's fault. */
function isFetchFailure(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC")
  );
}

/**
 * `JWKS_URL` keys that survive an identity-provider outage. jose's remote set is refetched after
 * `cacheMaxAgeMs`, and while the refetch fails it verifies nothing, so a long IdP outage would
 * reject every token, even ones verified minutes before. Here the last key set fetched
 * successfully keeps verifying while the IdP is unreachable; a token whose key is not in it
 * cannot be verified now (`jwks_unavailable`: 503, retryable), which is not a bad token.
 */
export function resilientJwks(url: URL, options: JwksOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs,
    timeoutDuration: options.timeoutMs,
  });
  let lastGood: { set: JSONWebKeySet; keys: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    try {
      const key = await remote(header, token);
      const current = remote.jwks();
      if (current !== undefined && current !== lastGood?.set) {
        lastGood = { set: current, keys: createLocalJWKSet(current) as JWTVerifyGetKey };
      }
      return key;
    } catch (error) {
      if (!isFetchFailure(error)) throw error;
      if (lastGood === undefined) throw new AuthError("jwks_unavailable", "cannot verify credentials now, retry later");
      try {
        return await lastGood.keys(header, token);
      } catch (fallbackError) {
        if (fallbackError instanceof errors.JWKSNoMatchingKey) {
          throw new AuthError("jwks_unavailable", "cannot verify credentials now, retry later");
        }
        throw fallbackError;
      }
    }
  };
}
