import type { IncomingHttpHeaders } from "node:http";
import { pipeline, Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Identity } from "../auth/identity.js";
import { requireIdentity } from "../http/authentication.js";
import { sendError } from "../http/error-response.js";
import { BodyLimiter } from "./body-limit.js";
import { IDEMPOTENCY_KEY, IdempotencyStore, type StoredResponse } from "./idempotency-store.js";
import { checkProxyPath } from "./path-safety.js";
import { ResponseRecorder } from "./response-recorder.js";
import type { UpstreamClient } from "./upstream-client.js";
import { classifyUpstreamError, FAILURE_MESSAGE, FAILURE_STATUS } from "./upstream-errors.js";
import { type CallerContext, rawRequestHeaders, rawResponseHeaders, traceContext } from "./upstream-headers.js";

const PROXY_PREFIX = "/api";
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const IDEMPOTENT_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

type RawProxyDeps = {
  /** Undefined when `UPSTREAM_URL` is not set: every `/api/*` call is 503. */
  upstream: UpstreamClient | undefined;
  idempotency: IdempotencyStore;
  bodyLimitBytes: number;
  /** `TRUST_PROXY` is set: the forwarding headers a proxy in front adds are passed on. */
  behindTrustedProxy: boolean;
};

type ProxyState = { identity: Identity; rest: string };

/**
 * `ALL /api/*` → `UPSTREAM_URL/*` (docs/proxy.md), on @fastify/reply-from over the shared
 * undici pool. Bodies stream both ways: the scope's only content-type parser hands Fastify the
 * raw request stream instead of reading it.
 */
export async function registerRawProxy(app: FastifyInstance, deps: RawProxyDeps): Promise<void> {
  const { upstream } = deps;
  // What the onRequest checks established, for the handler (kept off the request object's type).
  const state = new WeakMap<FastifyRequest, ProxyState>();
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
    if (upstream !== undefined) {
      // Loaded with the upstream: without `UPSTREAM_URL` the gateway starts without undici.
      const { default: replyFrom } = await import("@fastify/reply-from");
      await scope.register(replyFrom, {
        base: upstream.origin,
        undici: upstream.pool,
        disableRequestLogging: true,
        disableCache: true,
      });
    }

    // Everything that can refuse a request runs before its body is touched. A callback hook (no
    // promise per request); one that answers does not call `done`. A throw (no identity) goes
    // to the error handler: 401.
    scope.addHook("onRequest", (request, reply, done) => {
      const safe = checkProxyPath(request.raw.url ?? "", PROXY_PREFIX);
      if (!safe.ok) {
        request.log.info({ reason: safe.reason }, "proxy path refused");
        sendError(reply, 400, `invalid path: ${safe.reason}`);
        return;
      }
      // Verified (and counted against the user's budget) by the authentication hook.
      const identity = requireIdentity(request);
      const declared = Number(request.headers["content-length"] ?? 0);
      if (declared > deps.bodyLimitBytes) {
        reply.header("connection", "close");
        sendError(reply, 413, `request body larger than ${deps.bodyLimitBytes} bytes`);
        return;
      }
      if (upstream === undefined) {
        sendError(reply, 503, "no upstream service is configured");
        return;
      }
      state.set(request, { identity, rest: safe.rest });
      done();
    });

    scope.route({
      method: [...METHODS],
      url: `${PROXY_PREFIX}/*`,
      // Not async: a plain call makes no promise; only an idempotent one waits for the store.
      handler: (request, reply) => {
        const proxied = state.get(request);
        if (proxied === undefined || upstream === undefined) {
          sendError(reply, 503, "no upstream service");
          return;
        }
        const rawKey = request.headers["idempotency-key"];
        const key = IDEMPOTENT_METHODS.has(request.method) ? rawKey : undefined;
        if (key !== undefined && (typeof key !== "string" || !IDEMPOTENCY_KEY.test(key))) {
          sendError(reply, 400, "Idempotency-Key must be 1-255 visible ASCII characters");
          return;
        }
        const caller: CallerContext = {
          identity: proxied.identity,
          requestId: request.id,
          authorization: request.headers.authorization as string,
          trace: traceContext(request.headers.traceparent, request.headers.tracestate),
          idempotencyKey: typeof rawKey === "string" ? rawKey : undefined,
        };
        const target = upstream.pathFor(proxied.rest);
        if (key === undefined) {
          forward(request, reply, deps, caller, target, undefined);
          return;
        }
        return forwardOnce(request, reply, deps, caller, target, key);
      },
    });
  });
}

/** An idempotent call: the stored answer of an earlier one, or forwarded and recorded. */
async function forwardOnce(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: RawProxyDeps,
  caller: CallerContext,
  target: string,
  key: string,
): Promise<FastifyReply> {
  const storeKey = IdempotencyStore.key(caller.identity.tenantId, caller.identity.userId, key);
  const fingerprint = `${request.method} ${target}${querySuffix(request.raw.url)}`;
  const acquired = await deps.idempotency.acquire(storeKey, fingerprint);
  if (acquired.kind === "replay") return replay(reply, acquired.response);
  if (acquired.kind === "mismatch") {
    return sendError(reply, 422, "this Idempotency-Key was already used for a different request");
  }
  reply.raw.once("close", () => acquired.finish(undefined));
  return forward(request, reply, deps, caller, target, acquired.finish);
}

function querySuffix(url: string | undefined): string {
  const at = url?.indexOf("?") ?? -1;
  return at === -1 || url === undefined ? "" : url.slice(at);
}

function replay(reply: FastifyReply, response: StoredResponse): FastifyReply {
  return reply
    .code(response.status)
    .headers(response.headers)
    .header("idempotent-replayed", "true")
    .send(response.body);
}

function forward(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: RawProxyDeps,
  caller: CallerContext,
  target: string,
  record: ((response: StoredResponse | undefined) => void) | undefined,
): FastifyReply {
  let limiter: BodyLimiter | undefined;
  if (request.body instanceof Readable) {
    const body = request.body;
    limiter = new BodyLimiter(deps.bodyLimitBytes);
    // Errors surface through the upstream request (undici reads `limiter`); nothing to do here.
    pipeline(body, limiter, () => {});
    request.body = limiter;
  }
  return reply.from(target, {
    timeout: deps.upstream?.timeoutMs,
    // reply-from retries GETs answered 503 by default; a gateway must not multiply upstream load.
    retryDelay: () => null,
    rewriteRequestHeaders: (_request, headers) =>
      rawRequestHeaders(headers as IncomingHttpHeaders, caller, {
        ip: request.ip,
        host: request.host,
        protocol: request.protocol,
        hasBody: limiter !== undefined,
        behindTrustedProxy: deps.behindTrustedProxy,
      }) as IncomingHttpHeaders,
    rewriteHeaders: (headers) => rawResponseHeaders(headers as IncomingHttpHeaders) as IncomingHttpHeaders,
    onResponse: (_request, _reply, res) => {
      const stream = res.stream as Readable;
      if (record === undefined) return reply.send(stream);
      const status = res.statusCode;
      const upstreamHeaders = (res as unknown as { headers: IncomingHttpHeaders }).headers;
      const headers = rawResponseHeaders(upstreamHeaders) as Record<string, string | string[]>;
      const recorder = new ResponseRecorder(deps.idempotency.maxResponseBytes, (body) =>
        record(body === undefined ? undefined : { status, headers, body }),
      );
      pipeline(stream, recorder, (error) => {
        if (error) record(undefined);
      });
      return reply.send(recorder);
    },
    onError: (_reply, { error }) => {
      record?.(undefined);
      if (limiter?.exceeded === true) {
        reply.header("connection", "close");
        sendError(reply, 413, `request body larger than ${deps.bodyLimitBytes} bytes`);
        return;
      }
      if (request.raw.socket.destroyed) {
        // the client went away mid-request; there is no one to answer
        request.log.info({ target }, "client closed the request before the upstream answered");
        return;
      }
      const failure = classifyUpstreamError(error);
      request.log.warn({ err: error, failure, target }, "upstream call failed");
      sendError(reply, FAILURE_STATUS[failure], FAILURE_MESSAGE[failure]);
    },
  });
}
