import { randomFillSync } from "node:crypto";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { Identity } from "../auth/identity.js";
import { upstreamTraced } from "../telemetry/upstream-tracing.js";

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

/**
 * Headers that tell an upstream who the client is or which URL it asked for, which only a proxy
 * the operator trusts (`TRUST_PROXY`) may set: from anyone else they are forgeries.
 */
const FORWARDING_OVERRIDES = [
  "x-real-ip",
  "true-client-ip",
  "x-client-ip",
  "x-forwarded-port",
  "x-forwarded-prefix",
  "x-forwarded-user",
  "x-original-url",
  "x-rewrite-url",
];

const REQUEST_DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...GATEWAY_OWNED, ...FORWARDING_OVERRIDES]);
/** The same when a trusted proxy sits in front and vouches for its forwarding headers. */
const REQUEST_DROPPED_BEHIND_PROXY: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...GATEWAY_OWNED]);
const RESPONSE_DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, "x-request-id"]);
/** Not sent with a body Fastify does not read (GET/HEAD): its length must not be announced either. */
const BODY_HEADERS: ReadonlySet<string> = new Set(["content-length", "content-type"]);
const NONE: ReadonlySet<string> = new Set();
const KEEP_ALIVE_OR_CLOSE = /^\s*(keep-alive|close)\s*$/i;

/** Header names listed in a `Connection` header are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionListed(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const value = headers.connection;
  // The usual values name no header (and `connection` itself is dropped anyway): no set to build.
  if (typeof value !== "string" || KEEP_ALIVE_OR_CLOSE.test(value)) return NONE;
  const names = new Set<string>();
  for (const name of value.split(",")) names.add(name.trim().toLowerCase());
  return names;
}

/**
 * Copies `headers` into `target` except the names in the sets (header names arrive lower-cased).
 * A filtered copy, not a spread plus deletes: deleting turns the object into a slow dictionary,
 * which showed in the proxy's profile.
 */
function copyExcept(
  target: OutgoingHttpHeaders,
  headers: IncomingHttpHeaders,
  dropped: ReadonlySet<string>,
  listed: ReadonlySet<string>,
  body: ReadonlySet<string>,
): OutgoingHttpHeaders {
  for (const name of Object.keys(headers)) {
    if (dropped.has(name) || listed.has(name) || body.has(name)) continue;
    // CGI/WSGI upstreams (PHP, Python, nginx with `underscores_in_headers`) read `x_tenant_id` as
    // `X-Tenant-Id`: a name that normalises to a dropped one is dropped too.
    if (name.includes("_") && dropped.has(name.replaceAll("_", "-"))) continue;
    target[name] = headers[name];
  }
  return target;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

type TraceContext = { traceparent: string; tracestate?: string; traceId: string; started: boolean };

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
  const ids = randomHex(24);
  const traceId = ids.slice(0, 32);
  return { traceparent: `00-${traceId}-${ids.slice(32)}-01`, traceId, started: true };
}

/**
 * Random bytes for new trace and span ids, drawn from a pool refilled once per 170 ids (what
 * `randomUUID` does for its own ids): a `randomBytes` call per id, then two `randomUUID`s, each
 * showed in the proxy's profile.
 */
const RANDOM_POOL = Buffer.alloc(24 * 170);
let randomAt = RANDOM_POOL.length;

function randomHex(bytes: number): string {
  if (randomAt + bytes > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const hex = RANDOM_POOL.toString("hex", randomAt, randomAt + bytes);
  randomAt += bytes;
  return hex;
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
export function gatewayHeaders(caller: CallerContext, target: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  target.authorization = caller.authorization;
  target["x-tenant-id"] = caller.identity.tenantId;
  target["x-user-id"] = caller.identity.userId;
  target["x-request-id"] = caller.requestId;
  if (!upstreamTraced) {
    target.traceparent = caller.trace.traceparent;
    if (caller.trace.tracestate !== undefined) target.tracestate = caller.trace.tracestate;
  }
  if (caller.idempotencyKey !== undefined) target["idempotency-key"] = caller.idempotencyKey;
  return target;
}

/**
 * The raw proxy's request headers: the client's, minus hop-by-hop and gateway-owned ones (forged
 * identity headers included, in any spelling that normalises to one), minus the forwarding
 * overrides unless a trusted proxy vouches for them, plus the gateway's. `x-forwarded-*` describe the client as the
 * gateway saw it; client-sent copies are not trusted.
 */
export function rawRequestHeaders(
  incoming: IncomingHttpHeaders,
  caller: CallerContext,
  client: { ip: string; host: string; protocol: string; hasBody: boolean; behindTrustedProxy?: boolean },
): OutgoingHttpHeaders {
  const headers = copyExcept(
    {},
    incoming,
    client.behindTrustedProxy === true ? REQUEST_DROPPED_BEHIND_PROXY : REQUEST_DROPPED,
    connectionListed(incoming),
    client.hasBody ? NONE : BODY_HEADERS,
  );
  gatewayHeaders(caller, headers);
  headers["x-forwarded-for"] = client.ip;
  headers["x-forwarded-host"] = client.host;
  headers["x-forwarded-proto"] = client.protocol;
  return headers;
}

/** The upstream's response headers for the client: hop-by-hop removed, the gateway's request id kept. */
export function rawResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return copyExcept({}, headers, RESPONSE_DROPPED, connectionListed(headers), NONE);
}
