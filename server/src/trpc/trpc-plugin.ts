import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from "@trpc/server/adapters/fastify";
import type { FastifyInstance } from "fastify";
import { admitStream } from "../http/stream-auth.js";
import type { ConnectionLimiter } from "../stream/connection-limiter.js";
import type { TrpcContext, TrpcServices } from "./context.js";
import type { AppRouter } from "./router.js";

function connectionParamsToken(query: unknown): string | undefined {
  const raw = (query as { connectionParams?: unknown } | undefined)?.connectionParams;
  if (typeof raw !== "string" || raw.length > 8192) return undefined;
  try {
    const params: unknown = JSON.parse(raw);
    const token = (params as { token?: unknown } | null)?.token;
    return typeof token === "string" ? token : undefined;
  } catch {
    return undefined;
  }
}

/** Mounts the router at `/trpc`; `events.stream` is admitted (auth, per-user limit) before tRPC runs. */
export async function registerTrpc(
  app: FastifyInstance,
  deps: { router: AppRouter; services: TrpcServices; limiter: ConnectionLimiter },
): Promise<void> {
  await app.register(
    async (scope) => {
      scope.decorateRequest("streamIdentity", undefined);
      scope.addHook("preHandler", async (request, reply) => {
        if ((request.params as { path?: string }).path !== "events.stream") return;
        const identity = await admitStream(
          request,
          reply,
          { authenticator: deps.services.authenticator, limiter: deps.limiter },
          connectionParamsToken(request.query),
        );
        if (identity === undefined) return reply;
        (request as { streamIdentity?: unknown }).streamIdentity = identity;
      });
      await scope.register(fastifyTRPCPlugin, {
        trpcOptions: {
          router: deps.router,
          createContext: ({ req, res }): TrpcContext => ({
            req,
            res,
            requestId: req.id,
            services: deps.services,
            streamIdentity: (req as { streamIdentity?: TrpcContext["streamIdentity"] }).streamIdentity,
          }),
          onError({ error, req, path }) {
            if (error.code === "INTERNAL_SERVER_ERROR") req.log.error({ err: error, path }, "tRPC procedure failed");
          },
        },
      } satisfies FastifyTRPCPluginOptions<AppRouter>);
    },
    { prefix: "/trpc" },
  );
}
