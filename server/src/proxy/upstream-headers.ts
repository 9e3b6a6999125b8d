import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { Identity } from "../auth/identity.js";

/** RFC 9110 §7.6.1 connection-specific headers, plus the legacy ones proxies still see. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
];

/**
 * Request headers the gateway sets itself (identity, tracing, forwarding) or must not pass on:
 * the gateway's own cookies, and `expect` (the gateway answers `100-continue` itself).
 */
const GATEWAY_OWNED = [
  "host",
  "x-tenant-id",
  "x-user-id",
  "x-request-id",
  "traceparent",
  "tracestate",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "cookie",
  "expect",
];

/** Header names listed in a `Connection` header are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionListed(headers: IncomingHttpHeaders): string[] {
  const value = headers.connection;
  if (typeof value !== "string") return [];
  return value
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
}

function without(headers: IncomingHttpHeaders, names: Iterable<string>): OutgoingHttpHeaders {
  const copy: OutgoingHttpHeaders = { ...headers };
  for (const name of names) delete copy[name];
  return copy;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export type TraceContext = { traceparent: string; tracestate?: string; traceId: string; started: boolean };

/**
 * W3C Trace Context: a valid incoming `traceparent` (and its `tracestate`) is forwarded as is, so
 * the upstream's spans join the browser's trace; otherwise the gateway starts a new sampled trace.
 */
export function traceContext(traceparent: unknown, tracestate: unknown): TraceContext {
  const match = typeof traceparent === "string" ? TRACEPARENT.exec(traceparent) : null;
  if (match !== null) {
    const [, version, traceId, parentId, , suffix] = match as unknown as string[];
    const valid =
      version !== "ff" &&
      !(version === "00" && suffix !== undefined) &&
      !/^0+$/.test(traceId ?? "") &&
      !/^0+$/.test(parentId ?? "");
    if (valid && traceId !== undefined) {
      const state = typeof tracestate === "string" && tracestate.length <= 512 ? tracestate : undefined;
      return { traceparent: traceparent as string, tracestate: state, traceId, started: false };
    }
  }
  // randomUUID draws from a pooled entropy buffer: a fifth of the cost of randomBytes per call
  // (which showed in the proxy's profile). Its 122 random bits are plenty for a trace id.
  const traceId = randomUUID().replaceAll("-", "");
  const spanId = randomUUID().replaceAll("-", "").slice(0, 16);
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, started: true };
}

export type CallerContext = {
  identity: Identity;
  requestId: string;
  /** The user's `Authorization` header, already verified; forwarded unchanged. */
  authorization: string;
  trace: TraceContext;
  idempotencyKey?: string;
};

/** The headers every upstream call carries, raw or typed: identity from the token, request id, trace. */
export function gatewayHeaders(caller: CallerContext): OutgoingHttpHeaders {
  return {
    authorization: caller.authorization,
    "x-tenant-id": caller.identity.tenantId,
    "x-user-id": caller.identity.userId,
    "x-request-id": caller.requestId,
    traceparent: caller.trace.traceparent,
    ...(caller.trace.tracestate === undefined ? {} : { tracestate: caller.trace.tracestate }),
    ...(caller.idempotencyKey === undefined ? {} : { "idempotency-key": caller.idempotencyKey }),
  };
}

/**
 * The raw proxy's request headers: the client's, minus hop-by-hop and gateway-owned ones (forged
 * identity headers included), plus the gateway's. `x-forwarded-*` describe the client as the
 * gateway saw it; client-sent copies are not trusted.
 */
export function rawRequestHeaders(
  incoming: IncomingHttpHeaders,
  caller: CallerContext,
  client: { ip: string; host: string; protocol: string; hasBody: boolean },
): OutgoingHttpHeaders {
  const drop = [...HOP_BY_HOP, ...GATEWAY_OWNED, ...connectionListed(incoming)];
  // A body Fastify does not read (GET/HEAD) is not sent: its length must not be announced either.
  if (!client.hasBody) drop.push("content-length", "content-type");
  return {
    ...without(incoming, drop),
    ...gatewayHeaders(caller),
    "x-forwarded-for": client.ip,
    "x-forwarded-host": client.host,
    "x-forwarded-proto": client.protocol,
  };
}

/** The upstream's response headers for the client: hop-by-hop removed, the gateway's request id kept. */
export function rawResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return without(headers, [...HOP_BY_HOP, ...connectionListed(headers), "x-request-id"]);
}
