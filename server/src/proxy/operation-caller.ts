import type { Operation, OperationInput } from "@circl-bff/shared";
import type { FastifyBaseLogger } from "fastify";
import { IdempotencyStore, type StoredResponse } from "./idempotency-store.js";
import type { UpstreamClient } from "./upstream-client.js";
import { classifyUpstreamError, FAILURE_MESSAGE } from "./upstream-errors.js";
import { type CallerContext, gatewayHeaders } from "./upstream-headers.js";

/** Typed answers are JSON documents; anything bigger is not one the gateway should hold in memory. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export type OperationFailure =
  /** No `UPSTREAM_URL`. */
  | "unavailable"
  /** The input cannot form a safe upstream request (e.g. a path parameter `..`). */
  | "bad-input"
  /** The upstream answered 4xx; `status` says which. */
  | "rejected"
  /** 5xx, a redirect, a body that is not JSON or does not match the output schema. */
  | "bad-response"
  | "timeout"
  | "unreachable"
  /** The idempotency key was used by this user for another call. */
  | "key-reused";

export class OperationError extends Error {
  constructor(
    readonly failure: OperationFailure,
    message: string,
    /** The upstream's status for `rejected`. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "OperationError";
  }
}

export type OperationCall = {
  name: string;
  operation: Operation;
  input: OperationInput | undefined;
  caller: CallerContext;
  log: FastifyBaseLogger;
};

export type OperationCaller = (call: OperationCall) => Promise<unknown>;

/** Publishes what a successful operation `emits` (operation-events.ts); never fails the call (the upstream already changed). */
export type OperationEmitter = (call: OperationCall, output: unknown) => Promise<void>;

/** Fills `{name}` placeholders, percent-encoded; `.`/`..`/empty values would change the path's meaning. */
function expandPath(template: string, params: OperationInput["params"]): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new OperationError("bad-input", `path parameter '${name}' is missing`);
    const encoded = encodeURIComponent(String(value));
    if (encoded === "" || encoded === "." || encoded === "..") {
      throw new OperationError("bad-input", `path parameter '${name}' must not be empty, '.' or '..'`);
    }
    return encoded;
  });
}

function queryString(query: OperationInput["query"]): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(name, String(item));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

function upstreamMessage(body: Buffer, status: number): string {
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    const message = (parsed as { message?: unknown } | null)?.message;
    if (typeof message === "string" && message !== "") return message.slice(0, 500);
  } catch {
    // not JSON: fall through to a generic message
  }
  return `the upstream service answered ${status}`;
}

/**
 * Runs typed operations against the upstream with the raw proxy's header rules, and turns the
 * upstream's answer into a value that matches the operation's output schema, or an OperationError.
 */
export function createOperationCaller(deps: {
  upstream: UpstreamClient | undefined;
  idempotency: IdempotencyStore;
  /** Publishes the event a successful call `emits` (none when omitted). */
  emit?: OperationEmitter;
}): OperationCaller {
  async function fetchOnce(call: OperationCall, path: string): Promise<StoredResponse> {
    const upstream = deps.upstream as UpstreamClient;
    const { operation, input } = call;
    const hasBody = operation.method !== "GET" && input?.body !== undefined;
    let response: Awaited<ReturnType<UpstreamClient["request"]>>;
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      response = await upstream.request({
        method: operation.method,
        path,
        headers: {
          ...(gatewayHeaders(call.caller) as Record<string, string>),
          accept: "application/json",
          ...(hasBody ? { "content-type": "application/json" } : {}),
        },
        body: hasBody ? JSON.stringify(input?.body) : undefined,
      });
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > MAX_RESPONSE_BYTES) {
          response.body.destroy();
          throw new OperationError("bad-response", "the upstream response is too large");
        }
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof OperationError) throw error;
      const failure = classifyUpstreamError(error);
      call.log.warn({ err: error, operation: call.name, failure }, "upstream call failed");
      throw new OperationError(failure, FAILURE_MESSAGE[failure]);
    }
    const contentType = response.headers["content-type"];
    return {
      status: response.statusCode,
      headers: typeof contentType === "string" ? { "content-type": contentType } : {},
      body: Buffer.concat(chunks),
    };
  }

  function interpret(call: OperationCall, response: StoredResponse): unknown {
    const { status, body } = response;
    if (status >= 400 && status < 500) throw new OperationError("rejected", upstreamMessage(body, status), status);
    if (status < 200 || status >= 300) {
      call.log.warn({ operation: call.name, status }, "upstream answered with an error");
      throw new OperationError("bad-response", "the upstream service failed");
    }
    let value: unknown;
    if (body.length > 0) {
      try {
        value = JSON.parse(body.toString("utf8"));
      } catch {
        call.log.error({ operation: call.name, status }, "upstream response is not JSON");
        throw new OperationError("bad-response", "the upstream response is not valid JSON");
      }
    }
    const parsed = call.operation.output.safeParse(value);
    if (!parsed.success) {
      call.log.error(
        { operation: call.name, status, issues: parsed.error.issues },
        "upstream response does not match the operation's output schema",
      );
      throw new OperationError("bad-response", "the upstream response does not match the expected schema");
    }
    return parsed.data;
  }

  /** A fresh successful call announces itself (an idempotent replay changed nothing upstream). */
  async function announced(call: OperationCall, response: StoredResponse): Promise<unknown> {
    const output = interpret(call, response);
    if (call.operation.emits !== undefined) await deps.emit?.(call, output);
    return output;
  }

  return async (call) => {
    if (deps.upstream === undefined) throw new OperationError("unavailable", "no upstream service is configured");
    const { operation, input, caller } = call;
    const path = `${deps.upstream.pathFor(expandPath(operation.path, input?.params).slice(1))}${queryString(input?.query)}`;
    const key = operation.method === "GET" ? undefined : caller.idempotencyKey;
    if (key === undefined) return announced(call, await fetchOnce(call, path));

    const acquired = await deps.idempotency.acquire(
      IdempotencyStore.key(caller.identity.tenantId, caller.identity.userId, key),
      `${operation.method} ${path}`,
    );
    if (acquired.kind === "mismatch") {
      throw new OperationError("key-reused", "this idempotencyKey was already used for a different call");
    }
    if (acquired.kind === "replay") return interpret(call, acquired.response);
    let response: StoredResponse | undefined;
    try {
      response = await fetchOnce(call, path);
    } finally {
      acquired.finish(response);
    }
    return announced(call, response);
  };
}
