import type { PublishInput } from "@circl-bff/shared";
import { type FastifyTRPCPluginOptions, fastifyRequestHandler, fastifyTRPCPlugin } from "@trpc/server/adapters/fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { AuthError, bearerChallenge } from "../auth/auth-error.js";
import { admitStream } from "../http/stream-auth.js";
import type { ConnectionLimiter } from "../stream/connection-limiter.js";
import { publishFailure } from "../stream/event-publisher.js";
import type { TrpcContext, TrpcServices } from "./context.js";
import { registerTrpcPublishRoute } from "./publish-route.js";
import type { AppRouter } from "./router.js";
import { registerTrpcStreamRoute } from "./stream-route.js";

/**
 * tRPC answers with a fetch `Response`; Fastify would pipe its body as a web stream: chunked
 * encoding, a read loop of promises and a three-buffer `writev` for a body that is one JSON
 * string (measured: 65–68 % → 55–57 % of the gateway's core at 500 `events.publish` calls/s
 * with this hook). A complete answer is sent whole instead, with
 * its status, headers and a `content-length`. Streamed answers stay streams: subscriptions
 * (`text/event-stream`) and `httpBatchStreamLink` batches (`transfer-encoding: chunked`).
 */
async function sendCompleteAnswersWhole(_request: FastifyRequest, reply: FastifyReply, payload: unknown) {
  if (!(payload instanceof Response) || payload.body === null) return payload;
  const headers = payload.headers;
  if (headers.has("transfer-encoding") || headers.get("content-type")?.startsWith("text/event-stream")) return payload;
  reply.code(payload.status);
  for (const [name, value] of headers) reply.header(name, value);
  return payload.text();
}

/**
 * Mounts the router at `/trpc`. Credentials were verified by the authentication hook;
 * `events.stream` is admitted (per-user stream limit, 401/429 as HTTP statuses) before tRPC
 * starts its response, and served by its own route (stream-route.ts) with tRPC's handler behind.
 */
export async function registerTrpc(
  app: FastifyInstance,
  deps: {
    router: AppRouter;
    services: TrpcServices;
    limiter: ConnectionLimiter;
    /** `events.publish`'s input schema (the router's, with the catalog check). */
    publishInput: z.ZodType<PublishInput>;
    stream: { maxTopicsPerStream: number; heartbeatMs: number; now: () => number };
  },
): Promise<void> {
  const trpcOptions = {
    router: deps.router,
    createContext: ({ req, res }): TrpcContext => ({ req, res, requestId: req.id, services: deps.services }),
    // A publish the bus cannot take now says when to come back, as on `POST /events/publish`.
    // An unauthenticated call gets the same `WWW-Authenticate` challenge as the raw routes.
    responseMeta({ ctx, errors }) {
      const headers: Record<string, string> = {};
      const retryAfterS = errors.map((error) => publishFailure(error.cause)?.retryAfterS).find((s) => s !== undefined);
      if (retryAfterS !== undefined) headers["retry-after"] = String(retryAfterS);
      if (errors.some((error) => error.code === "UNAUTHORIZED")) {
        headers["www-authenticate"] = bearerChallenge(ctx?.req.authError ?? new AuthError("missing"));
      }
      return { headers };
    },
    onError({ error, req, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") req.log.error({ err: error, path }, "tRPC procedure failed");
    },
  } satisfies FastifyTRPCPluginOptions<AppRouter>["trpcOptions"];
  await app.register(
    async (scope) => {
      // Other methods on the procedure's path (tRPC answers them), admitted like the route's GET.
      scope.addHook("preHandler", async (request, reply) => {
        if ((request.params as { path?: string }).path !== "events.stream") return;
        if (admitStream(request, reply, deps.limiter) === undefined) return reply;
      });
      scope.addHook("onSend", sendCompleteAnswersWhole);
      const fallback = (path: string) => (request: FastifyRequest, reply: FastifyReply) =>
        fastifyRequestHandler({ ...trpcOptions, req: request, res: reply, path });
      // The two procedures on the hot paths have routes of their own, with tRPC's handler behind.
      // JSON bodies stay strings here, as in tRPC's plugin (which sets the same parser).
      scope.removeContentTypeParser("application/json");
      scope.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => done(null, body));
      registerTrpcStreamRoute(scope, {
        hub: deps.services.hub,
        limiter: deps.limiter,
        grants: deps.services.grants,
        ...deps.stream,
        fallback: fallback("events.stream"),
      });
      registerTrpcPublishRoute(scope, {
        publish: deps.services.publish,
        inputSchema: deps.publishInput,
        fallback: fallback("events.publish"),
      });
      await scope.register(fastifyTRPCPlugin, { trpcOptions });
    },
    { prefix: "/trpc" },
  );
}
