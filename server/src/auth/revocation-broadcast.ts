import type { EventBus, Unsubscribe } from "../bus/event-bus.js";
import type { Revocation } from "./revocations.js";

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
    }
    if (this.pending.length > 0) this.schedule();
  }
}
