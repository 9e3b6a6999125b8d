import type { Operation, OperationManifest } from "@circl-bff/shared";
import type { TRPCMutationProcedure, TRPCProcedureBuilder, TRPCQueryProcedure } from "@trpc/server";
import { type TRPC_ERROR_CODE_KEY, TRPCError } from "@trpc/server";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { Identity } from "../auth/identity.js";
import { IDEMPOTENCY_KEY } from "../proxy/idempotency-store.js";
import { type OperationCaller, OperationError, type OperationFailure } from "../proxy/operation-caller.js";
import { traceContext } from "../proxy/upstream-headers.js";

/** No argument at all is accepted when every part of the input is optional. */
type MaybeEmpty<T> = Record<never, never> extends T ? T | undefined : T;
type QueryInput<O extends Operation> = MaybeEmpty<z.input<O["input"]>>;
type Flatten<T> = { [K in keyof T]: T[K] };
type MutationInput<O extends Operation> = MaybeEmpty<Flatten<z.input<O["input"]> & { idempotencyKey?: string }>>;

/** The procedures a manifest becomes, typed from its schemas so the client infers them. */
type ProxyProcedures<M extends OperationManifest, Meta, ErrorShape> = {
  [K in keyof M]: M[K]["method"] extends "GET"
    ? TRPCQueryProcedure<{
        input: QueryInput<M[K]>;
        output: z.output<M[K]["output"]>;
        meta: Meta;
        errorShape: ErrorShape;
      }>
    : TRPCMutationProcedure<{
        input: MutationInput<M[K]>;
        output: z.output<M[K]["output"]>;
        meta: Meta;
        errorShape: ErrorShape;
      }>;
};

// biome-ignore lint/suspicious/noExplicitAny: matches any builder to read its meta and error shape
type AnyBuilder = TRPCProcedureBuilder<any, any, any, any, any, any, any, any, any>;
// biome-ignore lint/suspicious/noExplicitAny: see AnyBuilder
type MetaOf<B> = B extends TRPCProcedureBuilder<any, infer Meta, any, any, any, any, any, any, any> ? Meta : never;
// biome-ignore lint/suspicious/noExplicitAny: see AnyBuilder
type ErrorShapeOf<B> = B extends TRPCProcedureBuilder<any, any, any, any, any, any, any, any, infer E> ? E : never;

/** What a proxy procedure needs from its context (the authed procedure provides `identity`). */
type ProxyContext = {
  req: FastifyRequest;
  requestId: string;
  identity: Identity;
  services: { operations: OperationCaller };
};
type Resolver = (options: { ctx: ProxyContext; input: unknown }) => Promise<unknown>;
type LooseBuilder = {
  input(schema: z.ZodType): { query(resolver: Resolver): unknown; mutation(resolver: Resolver): unknown };
};

const STATUS_CODES: Record<number, TRPC_ERROR_CODE_KEY> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_SUPPORTED",
  409: "CONFLICT",
  412: "PRECONDITION_FAILED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "UNPROCESSABLE_CONTENT",
  428: "PRECONDITION_REQUIRED",
  429: "TOO_MANY_REQUESTS",
};

const FAILURE_CODES: Record<Exclude<OperationFailure, "rejected">, TRPC_ERROR_CODE_KEY> = {
  unavailable: "SERVICE_UNAVAILABLE",
  "bad-input": "BAD_REQUEST",
  "bad-response": "BAD_GATEWAY",
  // 504, not tRPC's TIMEOUT (408, which would blame the client)
  timeout: "GATEWAY_TIMEOUT",
  unreachable: "BAD_GATEWAY",
  "key-reused": "UNPROCESSABLE_CONTENT",
};

function toTrpcError(error: OperationError): TRPCError {
  const code =
    error.failure === "rejected" ? (STATUS_CODES[error.status ?? 400] ?? "BAD_REQUEST") : FAILURE_CODES[error.failure];
  return new TRPCError({ code, message: error.message });
}

const idempotencyKeySchema = z.string().regex(IDEMPOTENCY_KEY, "must be 1-255 visible ASCII characters");

/** The procedure's input parser: the operation's input, `undefined` read as `{}`, plus `idempotencyKey` on mutations. */
function inputSchema(operation: Operation): z.ZodType {
  const schema =
    operation.method === "GET"
      ? operation.input
      : operation.input.extend({ idempotencyKey: idempotencyKeySchema.optional() });
  return z.preprocess((value) => value ?? {}, schema);
}

/**
 * Turns a manifest into `proxy.<name>` procedures on the given (authenticated) builder: GET
 * operations become queries, the others mutations. Input is validated before any upstream call.
 */
export function createProxyProcedures<B extends AnyBuilder, const M extends OperationManifest>(
  procedure: B,
  manifest: M,
): ProxyProcedures<M, MetaOf<B>, ErrorShapeOf<B>> {
  const procedures: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(manifest)) {
    const resolver: Resolver = async ({ ctx, input }) => {
      const { idempotencyKey, ...operationInput } = input as { idempotencyKey?: string };
      try {
        return await ctx.services.operations({
          name,
          operation,
          input: operationInput,
          caller: {
            identity: ctx.identity,
            requestId: ctx.requestId,
            authorization: ctx.req.headers.authorization as string,
            trace: traceContext(ctx.req.headers.traceparent, ctx.req.headers.tracestate),
            idempotencyKey,
          },
          log: ctx.req.log,
        });
      } catch (error) {
        if (error instanceof OperationError) throw toTrpcError(error);
        throw error;
      }
    };
    const withInput = (procedure as unknown as LooseBuilder).input(inputSchema(operation));
    procedures[name] = operation.method === "GET" ? withInput.query(resolver) : withInput.mutation(resolver);
  }
  return procedures as ProxyProcedures<M, MetaOf<B>, ErrorShapeOf<B>>;
}
