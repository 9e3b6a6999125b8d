import type { EventBus, Unsubscribe } from "../bus/event-bus.js";
import type { Revocation } from "./revocations.js";

/** When a revocation broadcast after an outage is sent again (see `echo`). */
const ECHO_DELAYS_MS = [2000, 5000];

type RevocationBroadcastOptions = {
  /** Applies a revocation on this instance (revocation list, streams ended); idempotent. */
  apply: (revocation: Revocation) => void;
  /** How long one broadcast attempt may take, and how long to wait before the next one. */
  attemptTimeoutMs: number;
  retryMs: number;
  onError?: (error: unknown) => void;
};

/**
 * Revocations across instances. A revocation is applied here at once, then broadcast over the
 * bus's control channel; while the bus cannot take it (NATS down), it is retried until it can,
 * so the other instances apply it when the bus returns. Every instance applies what it receives
 * (its own included: applying twice changes nothing).
 */
export class RevocationBroadcast {
  private readonly pending: Revocation[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly echoes = new Set<NodeJS.Timeout>();
  private readonly stopListening: Unsubscribe;
  private closed = false;

  constructor(
    private readonly bus: EventBus,
    private readonly options: RevocationBroadcastOptions,
  ) {
    this.stopListening = bus.onControl((message) => {
      if (message.kind === "revoke") options.apply(message);
    });
  }

  /** Applied here before it resolves; broadcast now, or as soon as the bus can take it. */
  async revoke(revocation: Revocation): Promise<{ broadcast: boolean }> {
    this.options.apply(revocation);
    if (this.pending.length === 0 && (await this.send(revocation))) return { broadcast: true };
    this.pending.push(revocation);
    this.schedule();
    return { broadcast: false };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const echo of this.echoes) clearTimeout(echo);
    this.echoes.clear();
    this.stopListening();
  }

  private async send(revocation: Revocation): Promise<boolean> {
    if (!this.bus.isReady()) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.bus.publishControl({ kind: "revoke", ...revocation }),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("control message not confirmed in time")),
            this.options.attemptTimeoutMs,
          );
        }),
      ]);
      return true;
    } catch (error) {
      this.options.onError?.(error);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A revocation held through an outage goes out as soon as this instance is back, which can be
   * before the others have reconnected: the control channel is core NATS, and an instance not
   * connected at that moment never sees it (a NATS restart of a few seconds showed it). Sent again
   * a little later, it reaches them; applying it twice changes nothing.
   */
  private echo(revocation: Revocation): void {
    for (const delayMs of ECHO_DELAYS_MS) {
      const timer = setTimeout(() => {
        this.echoes.delete(timer);
        if (!this.closed && revocation.until > Date.now()) void this.send(revocation);
      }, delayMs);
      timer.unref();
      this.echoes.add(timer);
    }
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.options.retryMs);
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0 && !this.closed) {
      const next = this.pending[0] as Revocation;
      // Expired revocations need no broadcast: the tokens they revoke have expired too.
      if (next.until > Date.now() && !(await this.send(next))) break;
      this.pending.shift();
      this.echo(next);
    }
    if (this.pending.length > 0) this.schedule();
  }
}
