import { type EventSourceConstructor, type EventSourceInstance, resolveEventSource } from "./event-source-impl.js";
import type { StreamTokenSource } from "./stream-token-source.js";

type ResumableSourceOptions = {
  tokens: Pick<StreamTokenSource, "get" | "invalidate">;
  /** Puts the stream token into the URL (`?token=` on the raw route, `connectionParams` on tRPC). */
  applyToken: (url: URL, token: string) => void;
  EventSource?: EventSourceConstructor;
  /** Reconnect delays: the first retry after `minRetryMs`, doubling up to `maxRetryMs`. */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** Called with the id of every event that carries one. */
  onEventId?: (id: string) => void;
  /** Live sources register here until closed (so a client can drop all of its connections). */
  registry?: Set<ResumableEventSource>;
};

type Listener = (event: MessageEvent) => void;

export type BoundResumableEventSource = new (url: string, init?: { withCredentials?: boolean }) => ResumableEventSource;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/**
 * An `EventSource` look-alike that reconnects by itself with a fresh stream token and the last
 * event id in the URL. A native `EventSource` reconnects with its original URL, whose token
 * expires (the gateway then answers 401 and the source gives up for good), so every error here
 * closes the inner source and opens a new one: after a network drop, a server-side end
 * (`SSE_MAX_CONNECTION_MS`, token expiry, shutdown) or a refused token alike.
 */
export class ResumableEventSource {
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSED = CLOSED;
  readyState = CONNECTING;
  lastEventId: string | undefined;

  private readonly listeners = new Map<string, Set<Listener>>();
  private inner: EventSourceInstance | undefined;
  private innerForwarders = new Map<string, Listener>();
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly url: string,
    private readonly init: { withCredentials?: boolean } | undefined,
    private readonly options: ResumableSourceOptions,
    lastEventId?: string,
  ) {
    this.lastEventId = lastEventId;
    this.options.registry?.add(this);
    // Waiting out a backoff while the browser was offline: retry as soon as it is back.
    globalThis.addEventListener?.("online", this.onOnline);
    void this.connect();
  }

  private readonly onOnline = () => {
    if (this.retryTimer === undefined || this.readyState !== CONNECTING) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), 0);
  };

  /** A class bound to `options`, for APIs that construct the source themselves (tRPC's link). */
  static withOptions(options: ResumableSourceOptions): BoundResumableEventSource {
    return class extends ResumableEventSource {
      constructor(url: string, init?: { withCredentials?: boolean }) {
        super(url, init, options);
      }
    };
  }

  addEventListener(type: string, listener: Listener): void {
    let set = this.listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(type, set);
      if (this.inner !== undefined && type !== "open" && type !== "error") this.forward(this.inner, type);
    }
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.get(type)?.delete(listener);
  }

  /** Drops the current connection and reconnects right away (resuming from the last id). */
  reconnect(): void {
    if (this.readyState === CLOSED) return;
    this.dropInner();
    this.readyState = CONNECTING;
    this.emit("error", new Event("error") as MessageEvent);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), 0);
  }

  close(): void {
    this.readyState = CLOSED;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.options.registry?.delete(this);
    globalThis.removeEventListener?.("online", this.onOnline);
    this.dropInner();
  }

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    let token: string;
    let Impl: EventSourceConstructor;
    try {
      [token, Impl] = await Promise.all([this.options.tokens.get(), resolveEventSource(this.options.EventSource)]);
    } catch {
      // The token request failed (network, 401 of the access token): try again later.
      this.scheduleRetry();
      return;
    }
    if (this.readyState === CLOSED) return;
    const url = new URL(this.url);
    this.options.applyToken(url, token);
    if (this.lastEventId !== undefined) url.searchParams.set("lastEventId", this.lastEventId);
    const inner = new Impl(url.toString(), this.init);
    this.inner = inner;
    let opened = false;
    inner.addEventListener("open", () => {
      if (this.inner !== inner) return;
      opened = true;
      this.attempts = 0;
      this.readyState = OPEN;
      this.emit("open", new Event("open") as MessageEvent);
    });
    inner.addEventListener("error", () => {
      if (this.inner !== inner) return;
      this.dropInner();
      // Refused before it opened: most likely the token (401), so the next attempt gets a new one.
      if (!opened) this.options.tokens.invalidate();
      this.readyState = CONNECTING;
      this.emit("error", new Event("error") as MessageEvent);
      this.scheduleRetry();
    });
    for (const type of this.listeners.keys()) {
      if (type !== "open" && type !== "error") this.forward(inner, type);
    }
  }

  private forward(inner: EventSourceInstance, type: string): void {
    const forwarder: Listener = (event) => {
      if (this.inner !== inner) return;
      if (event.lastEventId) {
        this.lastEventId = event.lastEventId;
        this.options.onEventId?.(event.lastEventId);
      }
      this.emit(type, event);
    };
    this.innerForwarders.set(type, forwarder);
    inner.addEventListener(type, forwarder);
  }

  private emit(type: string, event: MessageEvent): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) listener(event);
  }

  private dropInner(): void {
    const inner = this.inner;
    this.inner = undefined;
    if (inner === undefined) return;
    for (const [type, forwarder] of this.innerForwarders) inner.removeEventListener(type, forwarder);
    this.innerForwarders.clear();
    inner.close();
  }

  private scheduleRetry(): void {
    if (this.readyState === CLOSED) return;
    const min = this.options.minRetryMs ?? 250;
    const max = this.options.maxRetryMs ?? 10_000;
    const delay = Math.min(max, min * 2 ** this.attempts) * (0.75 + Math.random() * 0.5);
    this.attempts++;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }
}
