// Generates a TypeScript client from an OpenAPI document with @hey-api/openapi-ts, as a team
// without the repo's sources would: `node generate-openapi-client.mjs <document URL or file> <out dir>`.
// @hey-api/openapi-ts prints code through the TypeScript 5/6 compiler API, which the repo's
// `typescript` (7, native) does not have: its `import "typescript"` gets `@typescript/typescript6`.
import { register } from "node:module";

const hook = `export async function resolve(specifier, context, next) {
  if (specifier === "typescript" && context.parentURL?.includes("/node_modules/@hey-api/")) {
    return next("@typescript/typescript6", context);
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url);

const [input, output] = process.argv.slice(2);
if (input === undefined || output === undefined) {
  console.error("usage: generate-openapi-client.mjs <input> <output dir>");
  process.exit(2);
}
const { createClient } = await import("@hey-api/openapi-ts");
await createClient({ input, output, logs: { level: "silent", file: false } });
