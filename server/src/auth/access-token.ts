import { decodeProtectedHeader, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Config } from "../config.js";
import { AuthError, toAuthError } from "./auth-error.js";
import { readClaim, readRoles, readTopicPatterns, requireId } from "./claims.js";
import { hmacKey } from "./hmac-key.js";
import type { Identity } from "./identity.js";
import { resilientJwks } from "./jwks-keys.js";
import { STREAM_TOKEN_AUDIENCE } from "./stream-token.js";

const MAX_TOKEN_LENGTH = 16_384;

export type AccessTokenVerifier = (token: string) => Promise<Identity>;

type AccessTokenVerifierOptions = {
  /**
   * Minimum time between two JWKS fetches triggered by an unknown `kid` (jose's cooldown); bounds
   * the load tokens with made-up key ids can put on the identity provider. Default 30 s.
   */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is fetched again. Default 10 min. */
  jwksCacheMaxAgeMs?: number;
};

/**
 * Verifies identity-provider access tokens: HS256 with `JWT_SECRET`, RS256/ES256 from
 * `JWKS_URL` (jose caches the set and refetches on an unknown `kid`, so key rotation works).
 * The algorithm comes from our allow-list, never from the token alone.
 */
export function createAccessTokenVerifier(
  jwt: Config["jwt"],
  options: AccessTokenVerifierOptions = {},
): AccessTokenVerifier {
  const jwks: JWTVerifyGetKey | undefined =
    jwt.jwksUrl === undefined
      ? undefined
      : resilientJwks(jwt.jwksUrl, {
          cooldownMs: options.jwksCooldownMs ?? 30_000,
          cacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? 600_000,
          timeoutMs: 5_000,
        });
  const secretKey = jwt.secret === undefined ? undefined : hmacKey(jwt.secret);
  const common = {
    requiredClaims: ["exp", "sub"],
    ...(jwt.issuer === undefined ? {} : { issuer: jwt.issuer }),
    ...(jwt.audience === undefined ? {} : { audience: jwt.audience }),
  };

  return async (token) => {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new AuthError("malformed");
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError("malformed");
    }
    let payload: JWTPayload;
    try {
      if (alg === "HS256" && secretKey !== undefined) {
        ({ payload } = await jwtVerify(token, await secretKey, { ...common, algorithms: ["HS256"] }));
      } else if ((alg === "RS256" || alg === "ES256") && jwks !== undefined) {
        ({ payload } = await jwtVerify(token, jwks, { ...common, algorithms: ["RS256", "ES256"] }));
      } else {
        throw new AuthError("algorithm");
      }
    } catch (error) {
      throw toAuthError(error);
    }
    const aud = payload.aud;
    if (aud === STREAM_TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(STREAM_TOKEN_AUDIENCE))) {
      throw new AuthError("stream_token_as_access_token");
    }
    return {
      userId: requireId(payload.sub, "sub"),
      tenantId: requireId(readClaim(payload, jwt.tenantClaim), jwt.tenantClaim),
      roles: readRoles(payload, jwt.rolesClaim),
      topics: readTopicPatterns(payload, jwt.topicsClaim),
      via: "access",
      exp: payload.exp as number,
      iat: typeof payload.iat === "number" ? payload.iat : 0,
      tokenIds: typeof payload.jti === "string" && payload.jti.length <= 256 ? [payload.jti] : [],
    };
  };
}
