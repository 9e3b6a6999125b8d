// @fastify/http-proxy in front of the same upstream: `/api/*` → `UPSTREAM_URL/*`. Bare, or with
// PROXY_AUTH=1 what a user adds to be a gateway: the bearer JWT verified (jose, HS256 with
// JWT_SECRET, `sub`, `tenantId` and `exp` required, 401 otherwise), client-sent identity headers
// removed, `x-tenant-id`, `x-user-id` and `x-request-id` set for the upstream.
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";
import { jwtVerify } from "jose";

const auth = process.env.PROXY_AUTH === "1";
const key = new TextEncoder().encode(process.env.JWT_SECRET ?? "");
const app = Fastify({ logger: false });
if (auth) {
  app.decorateRequest("identity", undefined);
  app.addHook("onRequest", async (request, reply) => {
    const header = request.headers.authorization;
    try {
      if (header === undefined || !header.startsWith("Bearer ")) throw new Error("missing");
      const { payload } = await jwtVerify(header.slice(7), key, {
        algorithms: ["HS256"],
        requiredClaims: ["sub", "exp"],
      });
      if (typeof payload.tenantId !== "string") throw new Error("no tenant");
      request.identity = { userId: payload.sub, tenantId: payload.tenantId };
    } catch {
      return reply
        .code(401)
        .send({ statusCode: 401, error: "Unauthorized", message: "invalid or missing credentials" });
    }
  });
}
await app.register(proxy, {
  upstream: process.env.UPSTREAM_URL,
  prefix: "/api",
  replyOptions: auth
    ? {
        rewriteRequestHeaders(request, headers) {
          const { "x-tenant-id": _t, "x-user-id": _u, ...rest } = headers;
          return {
            ...rest,
            "x-tenant-id": request.identity.tenantId,
            "x-user-id": request.identity.userId,
            "x-request-id": request.id,
          };
        },
      }
    : {},
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" });
process.stdout.write(`listening ${app.server.address().port}\n`);
