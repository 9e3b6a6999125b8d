import {
  type EventEnvelope,
  publishInputSchema,
  publishResultSchema,
  streamInputSchema,
  streamTokenResultSchema,
} from "@circl-bff/shared";
import { initTRPC, TRPCError, tracked } from "@trpc/server";
import { z } from "zod";
import { AuthError } from "../auth/auth-error.js";
import { BusUnavailableError, EventTooLargeError } from "../bus/event-bus.js";
import { ForbiddenError } from "../stream/event-publisher.js";
import { QueueSink } from "../stream/queue-sink.js";
import type { TrpcContext } from "./context.js";

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

  const admin = authed.use(async ({ ctx, next }) => {
    if (!ctx.identity.roles.includes("admin"))
      throw new TRPCError({ code: "FORBIDDEN", message: "requires the admin role" });
    return next();
  });
  const deadLetterId = z.object({ id: z.string().min(1).max(64) });

  return t.router({
    admin: t.router({
      // Publishes that failed for good (NATS bus), scoped to the admin's own tenant.
      deadLetters: t.router({
        list: admin.query(({ ctx }) => ctx.services.deadLetters?.list(ctx.identity.tenantId) ?? []),
        retry: admin.input(deadLetterId).mutation(({ ctx, input }) => {
          if (ctx.services.deadLetters?.retry(ctx.identity.tenantId, input.id) !== true)
            throw new TRPCError({ code: "NOT_FOUND", message: "no such dead letter, or the publish queue is full" });
          return { id: input.id, status: "queued" as const };
        }),
        drop: admin.input(deadLetterId).mutation(({ ctx, input }) => {
          if (ctx.services.deadLetters?.drop(ctx.identity.tenantId, input.id) !== true)
            throw new TRPCError({ code: "NOT_FOUND", message: "no such dead letter" });
          return { id: input.id, status: "dropped" as const };
        }),
      }),
    }),
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
            if (error instanceof BusUnavailableError)
              throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: error.message });
            if (error instanceof EventTooLargeError)
              throw new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: error.message });
            throw error;
          }
        }),
    }),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
