// The public API of @circl-bff/client, listed in docs/client.md: what a frontend needs. Internals
// of the shared workspace (subject encoding, claim paths, bus messages) are not part of it.

// From the shared workspace: envelopes and their schemas, the event catalog, and the inputs and
// outputs of the procedures as the gateway validates them.
export {
  type CatalogEnvelope,
  type CatalogEventType,
  type ConnectedEventData,
  defineEvents,
  type EventCatalog,
  type EventDataOf,
  type EventDefinition,
  type EventDefinitions,
  type EventEnvelope,
  eventCatalog,
  eventEnvelopeSchema,
  eventIdSchema,
  eventTypeSchema,
  type GatewayEnvelope,
  isEvent,
  isReservedEventType,
  type PresenceEventData,
  type PresenceList,
  type PublishInput,
  type PublishResult,
  type PublishTarget,
  presenceListInputSchema,
  presenceListResultSchema,
  publishInputSchema,
  publishResultSchema,
  publishTargetSchema,
  RESERVED_EVENT_TYPES,
  type ReservedEventType,
  type ResetEventData,
  type RevokeInput,
  revokeInputSchema,
  type StreamEnvelope,
  type StreamInput,
  type StreamTokenResult,
  streamInputSchema,
  streamTokenResultSchema,
  topicSchema,
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
