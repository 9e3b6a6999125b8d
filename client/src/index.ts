export * from "@circl-bff/shared";
// Named again so the typed-event API reads as the client's own (they come from `shared`).
export {
  type CatalogEnvelope,
  type CatalogEventType,
  type EventCatalog,
  eventCatalog,
  isEvent,
  type StreamEnvelope,
} from "@circl-bff/shared";
export {
  type AppRouter,
  type BffClient,
  type BffClientError,
  type BffClientOptions,
  createBffClient,
  envelopeOf,
  isBffClientError,
  reconnectStreams,
} from "./create-client.js";
export type { EventSourceConstructor, EventSourceInstance } from "./event-source-impl.js";
export {
  type EventHandlers,
  type HandledEnvelope,
  type HandledEventType,
  type OnEventsOptions,
  onEvents,
  type PresenceEventType,
} from "./on-events.js";
export {
  type ConnectedInfo,
  type EventStreamHandle,
  fetchStreamToken,
  type OpenEventStreamOptions,
  openEventStream,
} from "./open-event-stream.js";
export type { StreamTokenGrant } from "./stream-token-source.js";
export type { StreamState } from "./tab-stream.js";
