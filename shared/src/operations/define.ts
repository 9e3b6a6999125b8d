import { z } from "zod";
import type { EventCatalog } from "../events/index.js";

/** Methods a typed operation may use: GET becomes a tRPC query, the others mutations. */
const operationMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
type OperationMethod = (typeof operationMethods)[number];

type QueryScalar = string | number | boolean;

/**
 * What an operation's input parses to: path parameters for the `{name}` placeholders of its
 * path, query parameters, and a JSON body. Each part is optional; declare only what the call uses.
 */
export type OperationInput = {
  params?: Record<string, string | number>;
  query?: Record<string, QueryScalar | readonly QueryScalar[] | undefined>;
  body?: unknown;
};

/** One catalog event as a publisher writes it: `type` and the `data` its schema accepts. */
type CatalogEventInput = {
  [K in keyof EventCatalog & string]: { type: K; data: z.input<EventCatalog[K]["data"]> };
}[keyof EventCatalog & string];

/** One upstream call, declared once: the gateway builds `proxy.<name>` from it, the client infers its types. */
export type Operation<
  M extends OperationMethod = OperationMethod,
  I extends z.ZodObject & z.ZodType<OperationInput> = z.ZodObject & z.ZodType<OperationInput>,
  O extends z.ZodType = z.ZodType,
> = {
  readonly method: M;
  /** Path below `UPSTREAM_URL`, starting with `/`; `{name}` is replaced by `params.name`, percent-encoded. */
  readonly path: string;
  readonly input: I;
  /** The upstream's successful answer; anything else is a logged BAD_GATEWAY, never passed on. */
  readonly output: O;
  readonly description?: string;
  /**
   * The catalog event a successful call announces: the gateway publishes it to the caller's
   * tenant (every stream of the tenant learns the change without refetching). Not called when
   * the call fails, nor for an idempotent replay. Return `undefined` to publish nothing.
   */
  emits?(output: z.output<O>, input: z.output<I>): CatalogEventInput | undefined;
};

export type OperationManifest = Readonly<Record<string, Operation>>;

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const NAME = /^[A-Za-z][A-Za-z0-9]*$/;
const INPUT_PARTS = new Set(["params", "query", "body"]);

/** The `{name}` placeholders of a path template, in order. */
function pathParamNames(path: string): string[] {
  return [...path.matchAll(PLACEHOLDER)].map((match) => match[1] as string);
}

function objectKeys(schema: unknown): string[] | undefined {
  let inner = schema;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault) inner = inner.unwrap();
  return inner instanceof z.ZodObject ? Object.keys(inner.shape) : undefined;
}

/**
 * Declares one operation. Mistakes in the declaration (a path without a leading `/`, a
 * placeholder without a matching `params` key, an input key other than params/query/body) throw
 * here, so they fail at startup and in every test, not on the first call.
 */
export function defineOperation<
  const M extends OperationMethod,
  I extends z.ZodObject & z.ZodType<OperationInput>,
  O extends z.ZodType,
>(operation: Operation<M, I, O>): Operation<M, I, O> {
  const { path, input, method } = operation;
  if (!operationMethods.includes(method)) throw new Error(`operation method ${method} is not supported`);
  if (!path.startsWith("/") || /[?#\\]|\/\/|\/\.\.?(\/|$)/.test(path)) {
    throw new Error(`operation path ${path} must start with / and contain no query, fragment, // or dot segments`);
  }
  const parts = Object.keys(input.shape);
  const unknownPart = parts.find((part) => !INPUT_PARTS.has(part));
  if (unknownPart !== undefined) {
    throw new Error(`operation ${method} ${path}: input key '${unknownPart}' must be one of params, query, body`);
  }
  const placeholders = pathParamNames(path);
  const declared = objectKeys(input.shape.params) ?? [];
  const missing = placeholders.filter((name) => !declared.includes(name));
  if (missing.length > 0) {
    throw new Error(`operation ${method} ${path}: input.params must declare ${missing.join(", ")}`);
  }
  return operation;
}

/** Declares a manifest; names become `proxy.<name>` procedures, so they must be identifiers. */
export function defineOperations<const T extends OperationManifest>(manifest: T): T {
  for (const name of Object.keys(manifest)) {
    if (!NAME.test(name))
      throw new Error(`operation name '${name}' must be letters and digits, starting with a letter`);
  }
  return manifest;
}
