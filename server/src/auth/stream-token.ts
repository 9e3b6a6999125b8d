import { randomUUID } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import type { Config } from "../config.js";
import { AuthError, toAuthError } from "./auth-error.js";
import { readTopicPatterns, requireId } from "./claims.js";
import { hmacKey } from "./hmac-key.js";
import type { Identity } from "./identity.js";

export const STREAM_TOKEN_AUDIENCE = "circl-bff:stream";
const ISSUER = "circl-bff";

/** The gateway's own short-lived tokens, the only tokens accepted in a URL. */
export function createStreamTokens(options: Config["streamToken"]) {
  const key = hmacKey(options.secret);
  return {
    ttlS: options.ttlS,
    async issue(identity: Identity): Promise<{ token: string; expiresIn: number }> {
      // The access token's topic grants travel along: a stream opened with it may follow them.
      const claims: Record<string, unknown> = {
        tenantId: identity.tenantId,
        roles: [...identity.roles],
        topics: [...identity.topics],
      };
      // The access token's id travels along, so revoking it also revokes its stream tokens.
      if (identity.via === "access" && identity.tokenIds[0] !== undefined) claims.ajti = identity.tokenIds[0];
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(identity.userId)
        .setAudience(STREAM_TOKEN_AUDIENCE)
        .setIssuer(ISSUER)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(`${options.ttlS}s`)
        .sign(await key);
      return { token, expiresIn: options.ttlS };
    },
    async verify(token: string): Promise<Identity> {
      if (token.length === 0 || token.length > 4096) throw new AuthError("malformed");
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: ["HS256"],
          audience: STREAM_TOKEN_AUDIENCE,
          issuer: ISSUER,
          requiredClaims: ["exp", "sub"],
        });
        const roles = Array.isArray(payload.roles)
          ? payload.roles.filter((role): role is string => typeof role === "string")
          : [];
        return {
          userId: requireId(payload.sub, "sub"),
          tenantId: requireId(payload.tenantId, "tenantId"),
          roles,
          topics: readTopicPatterns(payload, "topics"),
          via: "stream",
          exp: payload.exp as number,
          iat: typeof payload.iat === "number" ? payload.iat : 0,
          tokenIds: [payload.jti, payload.ajti].filter((id): id is string => typeof id === "string"),
        };
      } catch (error) {
        throw toAuthError(error);
      }
    },
  };
}

export type StreamTokens = ReturnType<typeof createStreamTokens>;
