/** Who is calling, from a verified token only. */
export type Identity = {
  readonly userId: string;
  readonly tenantId: string;
  readonly roles: readonly string[];
  /** Topic patterns the user may subscribe to (`order:*`), from `JWT_TOPICS_CLAIM`. */
  readonly topics: readonly string[];
  /** Which kind of token proved it. */
  readonly via: "access" | "stream";
  /** Token expiry, epoch seconds. */
  readonly exp: number;
  /** Issued-at, epoch seconds (0 when the token has no `iat`). */
  readonly iat: number;
  /**
   * Ids a revocation by `jti` matches: the token's own `jti`, and for a stream token also the
   * `jti` of the access token it was issued for.
   */
  readonly tokenIds: readonly string[];
};

/**
 * Whose token or stream it is, as far as revocation is concerned: what a revocation matches on,
 * and what the hub keeps of the credential that opened a stream.
 */
export type TokenOwner = Pick<Identity, "tenantId" | "userId" | "tokenIds" | "iat">;
