import type { EventDefinitions } from "@circl-bff/shared";
import type { FastifyInstance } from "fastify";
import { buildApiDocuments } from "../api-docs/index.js";

/**
 * `GET /openapi.json` and `GET /asyncapi.json` (contract section 12): built once here, from the
 * catalog and the zod schemas the routes validate with, and served as the same string every time,
 * without authentication.
 */
export function registerApiDocRoutes(
  app: FastifyInstance,
  deps: { catalog: EventDefinitions; strictCatalog: boolean },
): void {
  const documents = buildApiDocuments(deps.catalog, deps.strictCatalog);
  const publicRoute = { config: { auth: "none" as const } };
  for (const [path, body] of [
    ["/openapi.json", documents.openapi],
    ["/asyncapi.json", documents.asyncapi],
  ] as const) {
    app.get(path, publicRoute, async (_request, reply) =>
      reply.type("application/json; charset=utf-8").header("cache-control", "no-cache").send(body),
    );
  }
}
