import type {
  CatalogEnvelope,
  CatalogEventType,
  ConnectedEventData,
  EventEnvelope,
  PresenceEventData,
  ResetEventData,
} from "@circl-bff/shared";
import { type BffClient, type BffClientError, envelopeOf } from "./create-client.js";

/** The gateway's presence envelopes (contract section 13), which a handler may also take. */
export type PresenceEventType = "presence.join" | "presence.leave";

/** The types `onEvents` accepts as handler keys: the catalog's, and presence. */
export type HandledEventType = CatalogEventType | PresenceEventType;

/** The envelope a handler of `type` receives, `data` typed by the catalog. */
export type HandledEnvelope<TType extends HandledEventType> = TType extends CatalogEventType
  ? CatalogEnvelope<TType>
  : EventEnvelope<PresenceEventData, TType>;

/** One handler per event type, each called with its type's envelope. */
export type EventHandlers = { [K in HandledEventType]?: (event: HandledEnvelope<K>) => void };

export type OnEventsOptions = {
  /** Topics to follow besides the user's own and the tenant's events; each must be granted. */
  topics?: string[];
  /** Resume after this id. */
  lastEventId?: string;
  /**
   * Receive `presence.join` / `presence.leave` of `topics`; on by default when a handler for one
   * of them is given.
   */
  presence?: boolean;
  /** The gateway could not resume from `lastEventId` (or from a reconnect's last id): refetch your state. */
  onReset?: (data: ResetEventData, envelope: EventEnvelope<ResetEventData, "reset">) => void;
  /** The subscription failed for good (e.g. `FORBIDDEN` for a topic that is not granted). */
  onError?: (error: BffClientError) => void;
  /**
   * The stream is attached (its `connected` envelope arrived), on every (re)connection: whatever
   * is published from now on is delivered. Publish your first event here, not right after
   * `onEvents` returns.
   */
  onReady?: (info: ConnectedEventData) => void;
};

/** Keys of `THandlers` that are not handled types: each must be `never`, so they do not compile. */
type NoUnknownKeys<THandlers> = { [K in Exclude<keyof THandlers, HandledEventType>]: never };

/**
 * Subscribes to `events.stream` with `types` = the handlers' keys and calls each handler with
 * its type's envelope. Returns a function that unsubscribes.
 *
 * ```ts
 * const stop = onEvents(bff, { "demo.message": (event) => show(event.data.text) }, {
 *   onReady: () => bff.events.publish.mutate({ type: "demo.message", data: { text: "hi" }, to: "me" }),
 * });
 * ```
 */
export function onEvents<const THandlers extends EventHandlers>(
  client: BffClient,
  handlers: THandlers & NoUnknownKeys<THandlers>,
  options: OnEventsOptions = {},
): () => void {
  const table = handlers as Record<string, ((event: EventEnvelope) => void) | undefined>;
  const types = Object.keys(table).filter((type) => typeof table[type] === "function");
  const wantsPresence = types.includes("presence.join") || types.includes("presence.leave");
  const presence = options.presence ?? wantsPresence;
  const input = {
    types,
    ...(options.topics === undefined ? {} : { topics: options.topics }),
    ...(options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId }),
    ...(presence ? { presence: true } : {}),
  };
  const subscription = client.events.stream.subscribe(input, {
    onData(item) {
      const envelope = envelopeOf(item);
      if (envelope.type === "connected") {
        options.onReady?.(envelope.data as ConnectedEventData);
      } else if (envelope.type === "reset") {
        options.onReset?.(envelope.data as ResetEventData, envelope as EventEnvelope<ResetEventData, "reset">);
      } else {
        table[envelope.type]?.(envelope);
      }
    },
    onError: (error) => options.onError?.(error as BffClientError),
  });
  return () => subscription.unsubscribe();
}
