import { decodeJwt } from "jose";
import type { AccessTokenVerifier } from "./access-token.js";
import { AuthError } from "./auth-error.js";
import type { Identity } from "./identity.js";
import type { RevocationList } from "./revocations.js";
import { STREAM_TOKEN_AUDIENCE, type StreamTokens } from "./stream-token.js";

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = BEARER.exec(authorization);
  if (match === null) throw new AuthError("malformed_header", "Authorization must be 'Bearer <token>'");
  return match[1];
}

function isStreamToken(token: string): boolean {
  try {
    const { aud } = decodeJwt(token);
    return aud === STREAM_TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(STREAM_TOKEN_AUDIENCE));
  } catch {
    return false;
  }
}

/**
 * Which token is accepted where (docs/protocol.md, "Identity and tokens"). `verifyAccess` serves API calls and
 * streams alike (in the app, one verification cache: a client opens its stream and calls the
 * API with the same access token, and reconnects with it).
 */
export function createAuthenticator(
  verifyAccess: AccessTokenVerifier,
  streamTokens: StreamTokens,
  revocations: RevocationList,
) {
  const notRevoked = (identity: Identity): Identity => {
    if (revocations.isRevoked(identity)) throw new AuthError("revoked", "the token has been revoked");
    return identity;
  };
  return {
    /** API calls: an access token in the Authorization header, nothing else. */
    async access(authorization: string | undefined): Promise<Identity> {
      const token = bearerToken(authorization);
      if (token === undefined) throw new AuthError("missing", "missing bearer access token");
      return notRevoked(await verifyAccess(token));
    },
    /**
     * Stream endpoints: an access or stream token in the header, or a stream token in the URL.
     * An access token never travels in a URL (it would land in proxy and browser logs).
     */
    async stream(authorization: string | undefined, urlToken: string | undefined): Promise<Identity> {
      const headerToken = bearerToken(authorization);
      if (headerToken !== undefined) {
        return notRevoked(
          await (isStreamToken(headerToken) ? streamTokens.verify(headerToken) : verifyAccess(headerToken)),
        );
      }
      if (urlToken === undefined) throw new AuthError("missing", "missing bearer token or stream token");
      if (!isStreamToken(urlToken)) {
        throw new AuthError("access_token_in_url", "only stream tokens are accepted in the URL (POST /events/token)");
      }
      return notRevoked(await streamTokens.verify(urlToken));
    },
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;
