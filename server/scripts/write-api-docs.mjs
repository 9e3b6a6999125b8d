#!/usr/bin/env node
// `npm run docs:api` (after `npm run build`): writes the gateway's OpenAPI and AsyncAPI documents,
// exactly as it serves them at /openapi.json and /asyncapi.json, to docs/api/ (or the folder given
// as the first argument), to publish with a release. EVENT_CATALOG_STRICT=true documents a strict
// catalog, as the gateway does when started with it.
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { eventCatalog } from "@circl-bff/shared";

const built = new URL("../dist/api-docs/index.js", import.meta.url);
const { buildApiDocuments } = await import(built.href).catch((error) => {
  console.error(`${fileURLToPath(built)} is missing: run npm run build first (${error.message})`);
  process.exit(1);
});

const outDir = resolve(process.argv[2] ?? fileURLToPath(new URL("../../docs/api/", import.meta.url)));
const documents = buildApiDocuments(eventCatalog, process.env.EVENT_CATALOG_STRICT === "true");
mkdirSync(outDir, { recursive: true });
for (const [name, text] of Object.entries(documents)) {
  const file = resolve(outDir, `${name}.json`);
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
}
