import type { Identity, TokenOwner } from "../auth/identity.js";
import type { StreamSink } from "./stream-sink.js";

/** What a client asks of its stream, the same on both transports (validated and granted). */
export type StreamOptions = {
  lastEventId?: string;
  types?: readonly string[];
  /** Topics of the tenant to follow (already granted), besides the personal and tenant keys. */
  topics?: readonly string[];
  /** Also deliver `presence.join` / `presence.leave` of those topics. */
  presence?: boolean;
};

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
