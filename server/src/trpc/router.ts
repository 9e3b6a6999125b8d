import {
  type EventEnvelope,
  operations,
  publishInputSchema,
  publishResultSchema,
  streamInputSchema,
  streamTokenResultSchema,
} from "@circl-bff/shared";
import { initTRPC, TRPCError, tracked } from "@trpc/server";
import { AuthError } from "../auth/auth-error.js";
import { ForbiddenError } from "../stream/event-publisher.js";
import { QueueSink } from "../stream/queue-sink.js";
import type { TrpcContext } from "./context.js";
import { createProxyProcedures } from "./proxy-router.js";

export type RouterOptions = { heartbeatMs: number; maxPendingBytes: number };

/** The typed API (contract section 7). No transformer: plain JSON on the wire. */
export function createAppRouter(options: RouterOptions) {
  const t = initTRPC.context<TrpcContext>().create({
    isDev: false,
    sse: {
      ping: { enabled: true, intervalMs: options.heartbeatMs },
      client: { reconnectAfterInactivityMs: options.heartbeatMs * 3 },
    },
    errorFormatter({ shape, error, ctx }) {
      const cause = error.cause as { issues?: unknown } | undefined;
      return {
        ...shape,
        message: error.code === "INTERNAL_SERVER_ERROR" ? "Internal Server Error" : shape.message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          requestId: ctx?.requestId,
          ...(error.code === "BAD_REQUEST" && Array.isArray(cause?.issues) ? { zodIssues: cause.issues } : {}),
        },
      };
    },
  });

  const authed = t.procedure.use(async ({ ctx, next }) => {
    try {
      const identity = await ctx.services.authenticator.access(ctx.req.headers.authorization);
      return next({ ctx: { identity } });
    } catch (error) {
      if (error instanceof AuthError)
        throw new TRPCError({ code: "UNAUTHORIZED", message: error.message, cause: error });
      throw error;
    }
  });

  return t.router({
    auth: t.router({
      streamToken: authed
        .output(streamTokenResultSchema)
        .mutation(({ ctx }) => ctx.services.streamTokens.issue(ctx.identity)),
    }),
    events: t.router({
      stream: t.procedure.input(streamInputSchema).subscription(async function* ({ ctx, input, signal }) {
        const identity = ctx.streamIdentity;
        // The stream gate authenticates and counts the stream before tRPC starts the response.
        if (identity === undefined) throw new TRPCError({ code: "UNAUTHORIZED" });
        const sink = new QueueSink(options.maxPendingBytes / 2);
        const session = ctx.services.hub.open({
          tenantId: identity.tenantId,
          userId: identity.userId,
          lastEventId: input?.lastEventId,
          types: input?.types,
          expiresAt: identity.exp * 1000,
          sink,
        });
        const onAbort = () => {
          sink.end("client-gone");
          session.close();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          for await (const event of sink) {
            yield tracked(event.envelope.id, event.envelope as EventEnvelope);
          }
        } finally {
          signal?.removeEventListener("abort", onAbort);
          session.close();
        }
      }),
      publish: authed
        .input(publishInputSchema)
        .output(publishResultSchema)
        .mutation(async ({ ctx, input }) => {
          try {
            return await ctx.services.publish(ctx.identity, input, ctx.requestId);
          } catch (error) {
            if (error instanceof ForbiddenError) throw new TRPCError({ code: "FORBIDDEN", message: error.message });
            throw error;
          }
        }),
    }),
    proxy: t.router(createProxyProcedures(authed, operations)),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
