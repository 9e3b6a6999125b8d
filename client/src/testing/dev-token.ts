import { createHmac } from "node:crypto";
import { setClaimPath } from "@circl-bff/shared";

export type DevTokenClaims = {
  sub: string;
  tenantId: string;
  roles?: string[];
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number;
  /** Claim names, as configured on the gateway (`JWT_TENANT_CLAIM`, `JWT_ROLES_CLAIM`); dotted paths nest. */
  tenantClaim?: string;
  rolesClaim?: string;
  issuer?: string;
  audience?: string;
};

const base64url = (input: string | Buffer) => Buffer.from(input).toString("base64url");

/**
 * An HS256 access token for development and tests, signed with the gateway's `JWT_SECRET`.
 * Never for production: real tokens come from your identity provider.
 */
export function mintDevAccessToken(secret: string, claims: DevTokenClaims, now = Date.now()): string {
  if (Buffer.byteLength(secret) < 32) throw new Error("the secret must be at least 32 bytes (as JWT_SECRET)");
  const iat = Math.floor(now / 1000);
  const payload: Record<string, unknown> = { sub: claims.sub, iat, exp: iat + (claims.ttlSeconds ?? 3600) };
  setClaimPath(payload, claims.tenantClaim ?? "tenantId", claims.tenantId);
  setClaimPath(payload, claims.rolesClaim ?? "roles", claims.roles ?? []);
  if (claims.issuer !== undefined) payload.iss = claims.issuer;
  if (claims.audience !== undefined) payload.aud = claims.audience;
  const signingInput = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(payload))}`;
  const signature = createHmac("sha256", secret).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}
