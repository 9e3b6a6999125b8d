import { readFileSync } from "node:fs";
import type { EventDefinitions } from "@circl-bff/shared";
import { buildAsyncApiDocument } from "./asyncapi.js";
import { buildOpenApiDocument } from "./openapi.js";

export { buildAsyncApiDocument } from "./asyncapi.js";
export { type ApiDocumentOptions, buildOpenApiDocument } from "./openapi.js";

/** The server package's version: the documents' `info.version` (from `src/` and `dist/` alike). */
function gatewayVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0"; // a deployment without the package file still starts
  }
}

type ApiDocuments = { openapi: string; asyncapi: string };

/** Both documents as JSON text, built once (at start-up, and by `npm run docs:api`). */
export function buildApiDocuments(catalog: EventDefinitions, strictCatalog: boolean): ApiDocuments {
  const options = { catalog, strictCatalog, version: gatewayVersion() };
  return {
    openapi: `${JSON.stringify(buildOpenApiDocument(options), null, 2)}\n`,
    asyncapi: `${JSON.stringify(buildAsyncApiDocument(options), null, 2)}\n`,
  };
}
