/** What `auth.streamToken` and `POST /events/token` answer. */
export type StreamTokenGrant = { token: string; expiresIn: number };

/**
 * Caches the gateway's short-lived stream token. A (re)connect after half of the token's
 * lifetime fetches a new one, so a connection never starts with a token about to expire (the
 * gateway ends a stream when its token expires and the client reconnects). `invalidate()` is
 * called when a connection attempt fails (a 401 looks the same as a network error to
 * `EventSource`), so the next attempt always presents a fresh token.
 */
export class StreamTokenSource {
  private current: { token: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly fetchGrant: () => Promise<StreamTokenGrant>,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<string> {
    if (this.current !== undefined && this.now() < this.current.refreshAt) return Promise.resolve(this.current.token);
    this.pending ??= this.fetchGrant()
      .then((grant) => {
        this.current = { token: grant.token, refreshAt: this.now() + (grant.expiresIn * 1000) / 2 };
        return grant.token;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  invalidate(): void {
    this.current = undefined;
  }
}
