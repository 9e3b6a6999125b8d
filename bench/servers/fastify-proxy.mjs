// A bare @fastify/http-proxy in front of the same upstream: `/api/*` → `UPSTREAM_URL/*`.
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";

const app = Fastify({ logger: false });
await app.register(proxy, { upstream: process.env.UPSTREAM_URL, prefix: "/api" });
await app.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" });
process.stdout.write(`listening ${app.server.address().port}\n`);
