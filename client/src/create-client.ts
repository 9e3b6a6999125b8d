import type { AppRouter } from "@circl-bff/server/router";
import type { EventEnvelope, ResetEventData, StreamInput } from "@circl-bff/shared";
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  TRPCClientError,
  type TRPCLink,
} from "@trpc/client";
import { observable } from "@trpc/server/observable";
import type { EventSourceConstructor } from "./event-source-impl.js";
import { type BoundResumableEventSource, ResumableEventSource } from "./resumable-event-source.js";
import { StreamTokenSource } from "./stream-token-source.js";
import { canShareAcrossTabs, type StreamState, shareName, TabStream, tokenUser } from "./tab-stream.js";
import { recordForTesting } from "./test-recorder.js";

export type { AppRouter };
export type BffClient = TRPCClient<AppRouter>;

/** What a failed call rejects with; `data` holds `code`, `httpStatus`, `requestId`, `zodIssues?`. */
export type BffClientError = TRPCClientError<AppRouter>;

/** Narrows a caught value to the gateway's typed error shape. */
export function isBffClientError(error: unknown): error is BffClientError {
  return error instanceof TRPCClientError;
}

export type BffClientOptions = {
  /** The gateway's base URL (`https://bff.example.com`); the client adds `/trpc`. */
  url: string;
  /** The user's access token, sent as `Authorization: Bearer` on queries and mutations. */
  getAccessToken: () => string | Promise<string>;
  /** The gateway could not resume a stream from the last id (`reset`): refetch your state. */
  onReset?: (data: ResetEventData, envelope: EventEnvelope) => void;
  /**
   * Share one `events.stream` connection between the tabs of this origin (default `true` where
   * Web Locks and BroadcastChannel exist). Shared subscribers filter `types` locally.
   */
  shareStream?: boolean;
  /** `EventSource` implementation; the global one or the `eventsource` package by default. */
  EventSource?: EventSourceConstructor;
  /** `fetch` implementation for queries and mutations. */
  fetch?: typeof fetch;
};

/** What one shared stream follows besides the user's own events: its topics and presence. */
type StreamScope = { kind: string; topics: string[]; presence: boolean };

/** The shared stream a subscription belongs to: `trpc` alone, or with its sorted topics and presence. */
function streamScope(input: StreamInput): StreamScope {
  const topics = [...new Set(input?.topics ?? [])].sort();
  const presence = input?.presence === true && topics.length > 0;
  const kind = topics.length === 0 ? "trpc" : `trpc:topics=${topics.join(",")}${presence ? ":presence" : ""}`;
  return { kind, topics, presence };
}

/**
 * The envelope of one `events.stream` item: tracked items are `{ id, data: envelope }`, untracked
 * ones (`connected`, `presence.join`, `presence.leave`, which are not positions) the envelope itself.
 */
export function envelopeOf(item: { id: string; data: unknown } | { type: string }): EventEnvelope {
  return ("type" in item ? item : item.data) as EventEnvelope;
}

/**
 * The typed client (contract section 8): queries and mutations over batched HTTP with the bearer
 * token, `events.stream` over SSE with a stream token fetched from `auth.streamToken`, renewed on
 * reconnect, resuming from the last id.
 */
export function createBffClient(options: BffClientOptions): BffClient {
  const base = options.url.replace(/\/+$/, "");
  const trpcUrl = `${base}/trpc`;
  const batch = httpBatchLink({
    url: trpcUrl,
    fetch: options.fetch,
    headers: async () => ({ authorization: `Bearer ${await options.getAccessToken()}` }),
  });
  const requests = createTRPCClient<AppRouter>({ links: [batch] });
  const tokens = new StreamTokenSource(() => requests.auth.streamToken.mutate());
  const liveSources = new Set<ResumableEventSource>();
  // tRPC evaluates `connectionParams` once per EventSource it creates, and a native EventSource
  // reconnects with its original URL: the resumable source puts a fresh token in every attempt.
  const subscriptions = httpSubscriptionLink<AppRouter, BoundResumableEventSource>({
    url: trpcUrl,
    EventSource: ResumableEventSource.withOptions({
      tokens,
      applyToken: (url, token) => url.searchParams.set("connectionParams", JSON.stringify({ token })),
      EventSource: options.EventSource,
      registry: liveSources,
    }),
  });

  // Where tabs cannot share (Node, old browsers) every subscription keeps its own stream and input.
  // Otherwise one stream per distinct topic set (and presence flag) is shared by the tabs.
  const share = (options.shareStream ?? true) && canShareAcrossTabs();
  const openShared = (scope: StreamScope) =>
    new TabStream(
      (lastEventId, sink) => {
        const upstream = createTRPCClient<AppRouter>({ links: [subscriptions] });
        sink.state("connecting");
        const input = {
          ...(lastEventId === undefined ? {} : { lastEventId }),
          ...(scope.topics.length === 0 ? {} : { topics: scope.topics }),
          ...(scope.presence ? { presence: true } : {}),
        };
        const subscription = upstream.events.stream.subscribe(Object.keys(input).length === 0 ? undefined : input, {
          onData: (item) => sink.event(envelopeOf(item)),
          onConnectionStateChange: (state) => sink.state(state.state === "pending" ? "open" : state.state),
          onError: () => sink.state("error"),
        });
        return () => subscription.unsubscribe();
      },
      async () => {
        const user = tokenUser(await options.getAccessToken());
        return user === undefined ? undefined : shareName(scope.kind, base, user);
      },
    );

  const client = createTRPCClient<AppRouter>({
    links: [
      streamTapLink(options.onReset),
      splitLink({
        condition: (op) => op.type === "subscription",
        true: share
          ? splitLink({
              condition: (op) => op.path === "events.stream",
              true: sharedStreamLink(openShared),
              false: subscriptions,
            })
          : subscriptions,
        false: batch,
      }),
    ],
  });
  streamControls.set(client, () => {
    for (const source of [...liveSources]) source.reconnect();
  });
  return client;
}

const streamControls = new WeakMap<object, () => void>();

/**
 * Drops the client's open `events.stream` connections; each reconnects at once with a fresh
 * stream token and resumes from its last id (what a network change does). In a follower tab of
 * a shared stream there is no connection to drop.
 */
export function reconnectStreams(client: BffClient): void {
  streamControls.get(client)?.();
}

/** Surfaces `reset` envelopes and records envelopes for the testing kit. */
function streamTapLink(onReset: BffClientOptions["onReset"]): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        const subscription = next(op).subscribe({
          next(value) {
            const result = value.result as { type?: string; data?: unknown };
            const item = result.type === undefined || result.type === "data" ? result.data : undefined;
            if (op.path === "events.stream" && typeof item === "object" && item !== null) {
              const envelope = envelopeOf(item as Parameters<typeof envelopeOf>[0]);
              // `connected` is the connection's handshake, not an event a test waits for.
              if (envelope.type !== "connected") recordForTesting("trpc", envelope);
              if (envelope.type === "reset") onReset?.(envelope.data as ResetEventData, envelope);
            }
            observer.next(value);
          },
          error: (error) => observer.error(error),
          complete: () => observer.complete(),
        });
        return () => subscription.unsubscribe();
      });
}

/**
 * `events.stream` served by tab-shared streams, one per topic set (and presence flag); each
 * subscriber filters `types` itself. Untracked envelopes (`connected`, presence) pass the filter,
 * as they do on the gateway.
 */
function sharedStreamLink(open: (scope: StreamScope) => TabStream): TRPCLink<AppRouter> {
  const streams = new Map<string, { stream: TabStream; users: number }>();
  return () =>
    ({ op }) =>
      observable((observer) => {
        const input = op.input as StreamInput;
        const types = input?.types;
        const scope = streamScope(input);
        let entry = streams.get(scope.kind);
        if (entry === undefined) {
          entry = { stream: open(scope), users: 0 };
          streams.set(scope.kind, entry);
        }
        entry.users++;
        let started = false;
        const unsubscribe = entry.stream.subscribe(
          {
            event(envelope) {
              if (envelope.id === "") {
                observer.next({ result: { type: "data", data: envelope } as never });
                return;
              }
              if (types !== undefined && envelope.type !== "reset" && !types.includes(envelope.type)) return;
              observer.next({ result: { id: envelope.id, data: { id: envelope.id, data: envelope } } as never });
            },
            state(state: StreamState) {
              if (state === "open" && !started) {
                started = true;
                observer.next({ result: { type: "started" } });
              }
              const trpcState = state === "open" ? "pending" : state === "error" ? "connecting" : state;
              observer.next({ result: { type: "state", state: trpcState, error: null } as never });
            },
          },
          input?.lastEventId,
        );
        const current = entry;
        return () => {
          unsubscribe();
          if (--current.users === 0 && streams.get(scope.kind) === current) streams.delete(scope.kind);
        };
      });
}
