import { z } from "zod";

export type JsonSchema = { [key: string]: unknown };

type SchemaTarget = "draft-2020-12" | "draft-07";

/**
 * One zod schema as JSON Schema, ready to sit inside an API document: no `$schema`, and any
 * definitions zod had to extract (recursive or registered schemas) moved into `hoisted` under
 * `<owner>_<name>`, their `$ref`s rewritten to `refBase` (`#/components/schemas/`), since a
 * `#/$defs/...` pointer would resolve against the document's root, not against this schema.
 * A part JSON Schema cannot express (a transform's output, a date) becomes `{}` rather than
 * stopping the gateway; the tests check that the shipped catalog converts in full.
 */
export function toDocumentSchema(
  schema: z.ZodType,
  options: { target: SchemaTarget; io: "input" | "output"; owner: string; refBase: string },
  hoisted: Record<string, JsonSchema>,
): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: options.target,
    io: options.io,
    unrepresentable: "any",
  }) as JsonSchema;
  delete json.$schema;
  const defsKey = options.target === "draft-07" ? "definitions" : "$defs";
  const defs = json[defsKey] as Record<string, JsonSchema> | undefined;
  if (defs === undefined) return json;
  delete json[defsKey];
  const localBase = `#/${defsKey}/`;
  const rename = (name: string) => `${options.owner}_${name.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (typeof node !== "object" || node === null) return node;
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(node)) {
      out[key] =
        key === "$ref" && typeof value === "string" && value.startsWith(localBase)
          ? `${options.refBase}${rename(value.slice(localBase.length))}`
          : rewrite(value);
    }
    return out;
  };
  for (const [name, def] of Object.entries(defs)) hoisted[rename(name)] = rewrite(def) as JsonSchema;
  return rewrite(json) as JsonSchema;
}

/**
 * Component names for event types: `demo.message` → `DemoMessage`. Types are
 * `[A-Za-z0-9_.:-]`, so two types may share a name (`a.b`, `a-b`), or a name the document
 * uses for something else (`reserved`); the later one gets a suffix.
 */
export function componentNames(types: readonly string[], reserved: readonly string[] = []): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>(reserved);
  for (const type of types) {
    const base =
      type
        .split(/[^A-Za-z0-9]+/)
        .filter((part) => part !== "")
        .map((part) => part[0]?.toUpperCase() + part.slice(1))
        .join("") || "Event";
    let name = /^[0-9]/.test(base) ? `E${base}` : base;
    for (let n = 2; taken.has(name); n++) name = `${base}${n}`;
    taken.add(name);
    names.set(type, name);
  }
  return names;
}
