import { existsSync, readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { documentSecurityHeaders } from "./security-headers.js";

const publicDir = new URL("../../public/", import.meta.url);

const ASSETS = {
  "/demo.js": "text/javascript; charset=utf-8",
  "/demo.css": "text/css; charset=utf-8",
} as const;

/**
 * `GET /`: the demo page, its stylesheet and its script (bundled from `client/demo` by
 * `npm run build`). In development the page carries the dev token in a meta tag. They are
 * documents: they get the page's CSP and helmet's document headers, not the API set.
 */
export function registerDemoRoutes(app: FastifyInstance, deps: { devToken?: string }): void {
  const html = readFileSync(new URL("index.html", publicDir), "utf8").replace(
    "<!--dev-token-->",
    deps.devToken === undefined ? "" : `<meta name="circl-dev-token" content="${deps.devToken}">`,
  );
  const publicRoute = { config: { auth: "none" as const }, onRequest: documentSecurityHeaders };
  app.get("/", publicRoute, async (_request, reply) => reply.type("text/html; charset=utf-8").send(html));
  // Browsers ask for it on every page: an empty answer instead of a 404 in the console and the log.
  app.get("/favicon.ico", publicRoute, async (_request, reply) =>
    reply.code(204).header("cache-control", "public, max-age=86400").send(),
  );
  for (const [path, type] of Object.entries(ASSETS)) {
    const file = new URL(path.slice(1), publicDir);
    // The script is a build output: without it the page still loads and says what is missing.
    const body = existsSync(file) ? readFileSync(file, "utf8") : undefined;
    app.get(path, publicRoute, async (_request, reply) =>
      body === undefined
        ? reply.code(404).type("text/plain; charset=utf-8").send(`${path} is not built: run npm run build`)
        : reply.type(type).header("cache-control", "no-cache").send(body),
    );
  }
}
