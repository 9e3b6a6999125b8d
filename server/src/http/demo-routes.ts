import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";

const publicDir = new URL("../../public/", import.meta.url);

/** `GET /`: the demo page (and its script). In development it carries the dev token. */
export function registerDemoRoutes(app: FastifyInstance, deps: { devToken?: string }): void {
  const html = readFileSync(new URL("index.html", publicDir), "utf8").replace(
    "<!--dev-token-->",
    deps.devToken === undefined ? "" : `<meta name="circl-dev-token" content="${deps.devToken}">`,
  );
  const script = readFileSync(new URL("demo.js", publicDir), "utf8");
  const styles = readFileSync(new URL("demo.css", publicDir), "utf8");
  const publicRoute = { config: { auth: "none" as const } };
  app.get("/", publicRoute, async (_request, reply) => reply.type("text/html; charset=utf-8").send(html));
  app.get("/demo.js", publicRoute, async (_request, reply) =>
    reply.type("text/javascript; charset=utf-8").send(script),
  );
  app.get("/demo.css", publicRoute, async (_request, reply) => reply.type("text/css; charset=utf-8").send(styles));
}
