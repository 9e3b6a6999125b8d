import { errors } from "jose";

export class AuthError extends Error {
  constructor(
    /** A short, log- and metric-friendly reason; never contains the token. */
    readonly reason: string,
    message = "invalid or missing credentials",
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
