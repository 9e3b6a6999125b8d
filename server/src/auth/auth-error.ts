import { errors } from "jose";

/** What a client is told about a credential that failed, whatever the reason (production). */
const INVALID_CREDENTIALS = "invalid or missing credentials";

export class AuthError extends Error {
  constructor(
    /** A short, log- and metric-friendly reason; never contains the token. */
    readonly reason: string,
    message = INVALID_CREDENTIALS,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

/** Maps jose's errors to a reason; anything unexpected is "malformed", never a 500. */
export function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof errors.JWTExpired) return new AuthError("expired");
  if (error instanceof errors.JWTClaimValidationFailed) return new AuthError(`claim_${error.claim}`);
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthError("signature");
  if (error instanceof errors.JOSEAlgNotAllowed) return new AuthError("algorithm");
  if (error instanceof errors.JWKSNoMatchingKey) return new AuthError("unknown_key");
  if (error instanceof errors.JWKSTimeout) return new AuthError("jwks_unavailable");
  return new AuthError("malformed");
}

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 6750, section 3): `Bearer` alone when no
 * credential came, `invalid_request` for an Authorization header that is not `Bearer <token>`,
 * `invalid_token` for a token that failed (expired, bad signature, revoked, ...).
 */
export function bearerChallenge(error: AuthError): string {
  if (error.reason === "missing") return "Bearer";
  if (error.reason === "malformed_header") return 'Bearer error="invalid_request"';
  return 'Bearer error="invalid_token"';
}

/**
 * The 401's message: in development the generic one says why (`invalid or missing credentials
 * (expired)`), which is what a developer wiring up a token needs; production never says more
 * than the generic message (the reason is in the log and in `auth_failures_total`).
 */
export function authErrorMessage(error: AuthError, production: boolean): string {
  return production || error.message !== INVALID_CREDENTIALS ? error.message : `${error.message} (${error.reason})`;
}
