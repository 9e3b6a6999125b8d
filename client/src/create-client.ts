import type { AppRouter } from "@circl-bff/server/router";
import type { EventEnvelope, ResetEventData } from "@circl-bff/shared";
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

type StreamInput = { lastEventId?: string; types?: string[] } | undefined;

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
  const share = (options.shareStream ?? true) && canShareAcrossTabs();
  const sharedStream = new TabStream(
    (lastEventId, sink) => {
      const upstream = createTRPCClient<AppRouter>({ links: [subscriptions] });
      sink.state("connecting");
      const subscription = upstream.events.stream.subscribe(lastEventId === undefined ? undefined : { lastEventId }, {
        onData: ({ data }) => sink.event(data as EventEnvelope),
        onConnectionStateChange: (state) => sink.state(state.state === "pending" ? "open" : state.state),
        onError: () => sink.state("error"),
      });
      return () => subscription.unsubscribe();
    },
    async () => {
      const user = tokenUser(await options.getAccessToken());
      return user === undefined ? undefined : shareName("trpc", base, user);
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
              true: sharedStreamLink(sharedStream),
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
            const result = value.result as { type?: string; data?: { data?: EventEnvelope } };
            const envelope = result.type === undefined || result.type === "data" ? result.data?.data : undefined;
            if (op.path === "events.stream" && envelope !== undefined) {
              recordForTesting("trpc", envelope);
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

/** `events.stream` served by the tab-shared stream; each subscriber filters `types` itself. */
function sharedStreamLink(stream: TabStream): TRPCLink<AppRouter> {
  return () =>
    ({ op }) =>
      observable((observer) => {
        const input = op.input as StreamInput;
        const types = input?.types;
        let started = false;
        return stream.subscribe(
          {
            event(envelope) {
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
      });
}
