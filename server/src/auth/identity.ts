/** Who is calling, from a verified token only. */
export type Identity = {
  readonly userId: string;
  readonly tenantId: string;
  readonly roles: readonly string[];
  /** Which kind of token proved it. */
  readonly via: "access" | "stream";
  /** Token expiry, epoch seconds. */
  readonly exp: number;
};
