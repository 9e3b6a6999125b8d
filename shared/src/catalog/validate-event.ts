import type { z } from "zod";
import type { EventDefinitions } from "./define-events.js";

type CatalogCheck =
  | { ok: true; data: unknown }
  | { ok: false; reason: "schema"; issues: z.core.$ZodIssue[] }
  | { ok: false; reason: "unknown-type"; message: string };

/**
 * Checks one event's `data` against its type's schema: once per publish, at every door, never
 * per delivery. A type the catalog lacks passes untyped, unless `strict`. On success `data` is
 * the schema's output (unknown keys of an object schema dropped), which is what the client's
 * types describe.
 */
export function checkEvent(catalog: EventDefinitions, type: string, data: unknown, strict: boolean): CatalogCheck {
  const definition = Object.hasOwn(catalog, type) ? catalog[type] : undefined;
  if (definition === undefined) {
    return strict ? { ok: false, reason: "unknown-type", message: `unknown event type: ${type}` } : { ok: true, data };
  }
  const parsed = definition.data.safeParse(data);
  return parsed.success
    ? { ok: true, data: parsed.data }
    : { ok: false, reason: "schema", issues: parsed.error.issues };
}

/**
 * `schema` (anything with `type` and `data`) with its `data` checked against the catalog: the
 * catalog's issues under `data`, an unknown type in strict mode as one issue `unknown event
 * type: <type>`. The output carries the schema's output of `data`.
 */
export function withCatalogCheck<TSchema extends z.ZodType<{ type: string; data?: unknown }>>(
  schema: TSchema,
  catalog: EventDefinitions,
  strict: boolean,
) {
  return schema.transform((input, ctx) => {
    const check = checkEvent(catalog, input.type, input.data, strict);
    if (check.ok) return check.data === input.data ? input : { ...input, data: check.data };
    if (check.reason === "unknown-type") {
      ctx.addIssue({ code: "custom", message: check.message, path: [], input: input.type });
    } else {
      for (const issue of check.issues) ctx.addIssue({ ...issue, path: ["data", ...issue.path] } as never);
    }
    return input;
  });
}

/** `path: message` for each problem, the way a curl user reads it. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], max = 5): string {
  return issues
    .slice(0, max)
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`))
    .join("; ");
}
