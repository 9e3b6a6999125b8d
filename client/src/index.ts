export * from "@circl-bff/shared";
export {
  type AppRouter,
  type BffClient,
  type BffClientError,
  type BffClientOptions,
  createBffClient,
  isBffClientError,
  reconnectStreams,
} from "./create-client.js";
export type { EventSourceConstructor, EventSourceInstance } from "./event-source-impl.js";
export {
  type ConnectedInfo,
  type EventStreamHandle,
  fetchStreamToken,
  type OpenEventStreamOptions,
  openEventStream,
} from "./open-event-stream.js";
export type { StreamTokenGrant } from "./stream-token-source.js";
export type { StreamState } from "./tab-stream.js";
