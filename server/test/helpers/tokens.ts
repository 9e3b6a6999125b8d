import { SignJWT } from "jose";
import { TEST_JWT_SECRET } from "./config.js";

export type TokenClaims = {
  sub?: string;
  tenantId?: string;
  roles?: string[];
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  notBefore?: number;
  issuer?: string;
  audience?: string;
  extra?: Record<string, unknown>;
  secret?: string | Uint8Array;
};

/** An HS256 access token as an identity provider would issue it. */
export async function accessToken(claims: TokenClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { ...claims.extra };
  if (claims.tenantId !== undefined || !("tenantId" in payload)) payload.tenantId = claims.tenantId ?? "t1";
  if (claims.roles !== undefined) payload.roles = claims.roles;
  let jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(now + (claims.expiresIn ?? 600));
  if (claims.sub !== "") jwt = jwt.setSubject(claims.sub ?? "u1");
  if (claims.notBefore !== undefined) jwt = jwt.setNotBefore(now + claims.notBefore);
  if (claims.issuer !== undefined) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience !== undefined) jwt = jwt.setAudience(claims.audience);
  const secret = claims.secret ?? TEST_JWT_SECRET;
  return jwt.sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}

/** The current time in epoch seconds. */
export function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Signs exactly `payload` (no claims added) with `alg`, for tokens the defaults of
 * `accessToken` cannot express (no `exp`, RS256/ES256 with a `kid`, another key).
 */
export async function signToken(
  payload: Record<string, unknown>,
  key: Parameters<SignJWT["sign"]>[0],
  header: { alg: string; kid?: string; typ?: string } = { alg: "HS256" },
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ typ: "JWT", ...header }).sign(key);
}

/** `{"alg":"none"}` + payload + an empty signature, built by hand (jose refuses to make one). */
export function unsignedToken(
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: "none" },
): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part(header)}.${part(payload)}.`;
}

/** The payload of a JWT, not verified. */
export function decodePayload(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (part === undefined) throw new Error(`not a JWT: ${token}`);
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}
