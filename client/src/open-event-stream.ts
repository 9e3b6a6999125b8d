import type { EventEnvelope, ResetEventData } from "@circl-bff/shared";
import type { EventSourceConstructor } from "./event-source-impl.js";
import { ResumableEventSource } from "./resumable-event-source.js";
import { type StreamTokenGrant, StreamTokenSource } from "./stream-token-source.js";
import { canShareAcrossTabs, type StreamState, shareName, TabStream, tokenUser } from "./tab-stream.js";
import { recordForTesting } from "./test-recorder.js";

export type ConnectedInfo = { clientId: string; resumed: boolean };

export type OpenEventStreamOptions = {
  /**
   * Returns a stream token (`POST /events/token` with the access token, see `fetchStreamToken`).
   * Returning the whole grant `{token, expiresIn}` lets the stream reuse a token until half of
   * its lifetime; a bare string is fetched again on every (re)connect.
   */
  getStreamToken: () => string | StreamTokenGrant | Promise<string | StreamTokenGrant>;
  /**
   * The event types to receive (`EventSource` only dispatches named events to listeners that ask
   * for them; the gateway is told to send only these). `reset` is always delivered.
   */
  types: string[];
  /** Resume after this id. */
  lastEventId?: string;
  /** Topics to follow besides the user's own and the tenant's events (`?topics=`); each must be granted. */
  topics?: string[];
  /**
   * Also receive `presence.join` / `presence.leave` of those topics (`?presence=1`), passed to
   * `onEvent` like any envelope (their `id` is empty: they are not stream positions).
   */
  presence?: boolean;
  /** Every envelope, in order, including `reset` ones. */
  onEvent: (envelope: EventEnvelope) => void;
  /** The gateway could not resume from the last id: refetch your state. */
  onReset?: (data: ResetEventData, envelope: EventEnvelope) => void;
  onStateChange?: (state: StreamState) => void;
  /** Each (re)connection's `connected` event; in a follower tab of a shared stream it is not called. */
  onConnected?: (info: ConnectedInfo) => void;
  /**
   * Share one stream between the tabs of this origin (default `true` in browsers that support it);
   * tabs share when they stream for the same user (read from the stream token), types, topics
   * and presence flag.
   */
  share?: boolean | { key: string };
  /** `EventSource` implementation; the global one or the `eventsource` package by default. */
  EventSource?: EventSourceConstructor;
};

export type EventStreamHandle = {
  /** Drops the network connection; it reconnects at once, resuming from the last id. */
  reconnect(): void;
  close(): void;
  readonly lastEventId: string | undefined;
  /** Whether this tab holds the shared stream (always `true` without sharing). */
  readonly isLeader: boolean;
};

/** Trades an access token for a stream token (`POST /events/token`). */
export async function fetchStreamToken(baseUrl: string, accessToken: string): Promise<StreamTokenGrant> {
  const response = await fetch(new URL("/events/token", baseUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}` },
  });
  if (!response.ok) throw new Error(`stream token request failed with status ${response.status}`);
  return (await response.json()) as StreamTokenGrant;
}

/**
 * Opens `GET /events/stream` with a plain `EventSource`: the stream token goes in the URL, and
 * every reconnect (network drop, server-side end, token expiry) uses a fresh token and the last
 * id, so the gateway replays what was missed or sends a `reset`.
 */
export function openEventStream(baseUrl: string, options: OpenEventStreamOptions): EventStreamHandle {
  const tokens = new StreamTokenSource(async () => {
    const grant = await options.getStreamToken();
    return typeof grant === "string" ? { token: grant, expiresIn: 0 } : grant;
  });
  const streamUrl = new URL("/events/stream", baseUrl);
  if (options.types.length > 0) streamUrl.searchParams.set("types", options.types.join(","));
  const topics = [...new Set(options.topics ?? [])].sort();
  if (topics.length > 0) streamUrl.searchParams.set("topics", topics.join(","));
  const presence = options.presence === true && topics.length > 0;
  if (presence) streamUrl.searchParams.set("presence", "1");
  const listened = new Set([...options.types, "reset", ...(presence ? ["presence.join", "presence.leave"] : [])]);
  let source: ResumableEventSource | undefined;

  const openUpstream = (
    lastEventId: string | undefined,
    sink: { event(e: EventEnvelope): void; state(s: StreamState): void },
  ) => {
    const current = new ResumableEventSource(
      streamUrl.toString(),
      undefined,
      {
        tokens,
        applyToken: (url, token) => url.searchParams.set("token", token),
        EventSource: options.EventSource,
      },
      lastEventId,
    );
    source = current;
    sink.state("connecting");
    current.addEventListener("error", () => sink.state("connecting"));
    current.addEventListener("connected", (event) => {
      sink.state("open");
      options.onConnected?.(JSON.parse(event.data) as ConnectedInfo);
    });
    const onEnvelope = (event: MessageEvent) => sink.event(JSON.parse(event.data) as EventEnvelope);
    for (const type of listened) current.addEventListener(type, onEnvelope);
    return () => {
      current.close();
      if (source === current) source = undefined;
    };
  };

  const share = options.share ?? true;
  const tabs = new TabStream(
    openUpstream,
    async () => {
      if (share === false || !canShareAcrossTabs()) return undefined;
      const user = typeof share === "object" ? share.key : tokenUser(await tokens.get());
      if (user === undefined) return undefined;
      const scope = `${topics.length > 0 ? `:topics=${topics.join(",")}` : ""}${presence ? ":presence" : ""}`;
      return shareName(`raw:${options.types.join(",")}${scope}`, streamUrl.origin, user);
    },
    options.lastEventId,
  );
  let last = options.lastEventId;
  const unsubscribe = tabs.subscribe({
    event(envelope) {
      if (envelope.id !== "") last = envelope.id;
      recordForTesting("raw", envelope);
      options.onEvent(envelope);
      if (envelope.type === "reset") options.onReset?.(envelope.data as ResetEventData, envelope);
    },
    state(state) {
      options.onStateChange?.(state);
    },
  });
  return {
    reconnect: () => source?.reconnect(),
    close: unsubscribe,
    get lastEventId() {
      return last;
    },
    get isLeader() {
      return tabs.isLeader || source !== undefined;
    },
  };
}
