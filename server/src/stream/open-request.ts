import type { StreamInput } from "@circl-bff/shared";
import type { Identity, TokenOwner } from "../auth/identity.js";
import type { StreamSink } from "./stream-sink.js";

/**
 * What a client asks of its stream, the same on both transports (`events.stream`'s input, the raw
 * route's query), once validated and its topics granted.
 */
export type StreamOptions = NonNullable<StreamInput>;

/** A stream as the hub opens it. */
export type OpenRequest = StreamOptions & {
  /** Whose stream it is and the credential that opened it (revocation ends streams by it). */
  owner: TokenOwner;
  /** When the credential that opened the stream expires (epoch ms); the stream ends then. */
  expiresAt?: number;
  sink: StreamSink;
};

/**
 * The hub's request for a stream opened with `identity`'s credential: the one place both
 * transports turn an identity into a stream's owner and deadline. The identity itself is the
 * owner (no copy per stream).
 */
export function openRequest(identity: Identity, options: StreamOptions, sink: StreamSink): OpenRequest {
  return { ...options, owner: identity, expiresAt: identity.exp * 1000, sink };
}
