import { randomUUID } from "node:crypto";
import {
  describeIssues,
  eventCatalog,
  operations,
  presenceListInputSchema,
  presenceListResultSchema,
  publishInputSchema,
  publishResultSchema,
  revokeInputSchema,
  type StreamEnvelope,
  streamInputSchema,
  streamTokenResultSchema,
  withCatalogCheck,
} from "@circl-bff/shared";
import { initTRPC, TRPCError, tracked } from "@trpc/server";
import type { Revocation } from "../auth/revocations.js";
import "../http/request-auth.js";
import { z } from "zod";
import { publishFailure } from "../stream/event-publisher.js";
import { openRequest } from "../stream/open-request.js";
import { QueueSink } from "../stream/queue-sink.js";
import type { TrpcContext } from "./context.js";
import { createProxyProcedures } from "./proxy-router.js";
import { bearerFromConnectionParams, streamOptions, topicError, trpcSseOptions } from "./stream-options.js";

type RouterOptions = {
  heartbeatMs: number;
  maxPendingBytes: number;
  /** Refuse event types outside the catalog (`EVENT_CATALOG_STRICT`). */
  strictCatalog: boolean;
  /** Most topics one stream may ask for. */
  maxTopicsPerStream: number;
};

/** The typed API (contract section 7). No transformer: plain JSON on the wire. */
export function createAppRouter(options: RouterOptions) {
  const t = initTRPC.context<TrpcContext>().create({
    isDev: false,
    sse: trpcSseOptions(options.heartbeatMs),
    errorFormatter({ shape, error, ctx }) {
      const cause = error.cause as { issues?: unknown } | undefined;
      const issues = error.code === "BAD_REQUEST" && Array.isArray(cause?.issues) ? cause.issues : undefined;
      return {
        ...shape,
        // Input issues read as `path: message` (the zod error's own message is their JSON).
        message:
          error.code === "INTERNAL_SERVER_ERROR"
            ? "Internal Server Error"
            : issues !== undefined
              ? describeIssues(issues)
              : shape.message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          requestId: ctx?.requestId,
          ...(issues !== undefined ? { zodIssues: issues } : {}),
        },
      };
    },
  });

  // The authentication hook verified the request before tRPC ran (an access token for calls,
  // an access or stream token for events.stream).
  const authed = t.procedure.use(({ ctx, next }) => {
    const identity = ctx.req.identity;
    if (identity === undefined) {
      const unverifiable = ctx.req.authError?.reason === "jwks_unavailable";
      throw new TRPCError({
        code: unverifiable ? "SERVICE_UNAVAILABLE" : "UNAUTHORIZED",
        message: ctx.req.authError?.message ?? "missing credentials",
      });
    }
    return next({ ctx: { identity } });
  });

  const admin = authed.use(async ({ ctx, next }) => {
    if (!ctx.identity.roles.includes("admin"))
      throw new TRPCError({ code: "FORBIDDEN", message: "requires the admin role" });
    return next();
  });
  const deadLetterId = z.object({ id: z.string().min(1).max(64) });
  // `data` checked against the event catalog, once per publish (docs/events.md).
  const publishInput = withCatalogCheck(publishInputSchema, eventCatalog, options.strictCatalog);

  return t.router({
    admin: t.router({
      // Publishes that failed for good (NATS bus), scoped to the admin's own tenant.
      deadLetters: t.router({
        list: admin.query(async ({ ctx }) => (await ctx.services.deadLetters?.list(ctx.identity.tenantId)) ?? []),
        retry: admin.input(deadLetterId).mutation(async ({ ctx, input }) => {
          if ((await ctx.services.deadLetters?.retry(ctx.identity.tenantId, input.id)) !== true)
            throw new TRPCError({ code: "NOT_FOUND", message: "no such dead letter, or the publish queue is full" });
          return { id: input.id, status: "queued" as const };
        }),
        drop: admin.input(deadLetterId).mutation(async ({ ctx, input }) => {
          if ((await ctx.services.deadLetters?.drop(ctx.identity.tenantId, input.id)) !== true)
            throw new TRPCError({ code: "NOT_FOUND", message: "no such dead letter" });
          return { id: input.id, status: "dropped" as const };
        }),
      }),
    }),
    auth: t.router({
      streamToken: authed
        .output(streamTokenResultSchema)
        .mutation(({ ctx }) => ctx.services.streamTokens.issue(ctx.identity)),
      /**
       * Revokes one token (`jti`) or every token issued until now, of the caller or — for an
       * admin — of another user of the same tenant. Streams opened with them end at once, on
       * every instance; reconnecting with them gets 401.
       */
      revoke: authed.input(revokeInputSchema).mutation(async ({ ctx, input }) => {
        const userId = input.userId ?? ctx.identity.userId;
        if (userId !== ctx.identity.userId && !ctx.identity.roles.includes("admin")) {
          throw new TRPCError({ code: "FORBIDDEN", message: "revoking another user's tokens requires the admin role" });
        }
        const nowS = Math.floor(Date.now() / 1000);
        const revocation: Revocation = {
          tenantId: ctx.identity.tenantId,
          userId,
          ...(input.jti === undefined ? { issuedBefore: nowS } : { jti: input.jti }),
          until: (nowS + ctx.services.revocationTtlS) * 1000,
        };
        // Applied on this instance now; `broadcast: false`: the others get it once the bus is back.
        const { broadcast } = await ctx.services.revoke(revocation);
        return {
          tenantId: revocation.tenantId,
          userId,
          jti: input.jti,
          issuedBefore: revocation.issuedBefore,
          broadcast,
        };
      }),
    }),
    events: t.router({
      stream: authed.input(streamInputSchema).subscription(async function* ({ ctx, input, signal }) {
        // Served by its own route (stream-route.ts); a request it refused or did not recognise
        // comes here, and tRPC answers in its own format.
        if (ctx.req.refusal !== undefined) throw ctx.req.refusal;
        const identity = ctx.identity;
        const stream = await streamOptions(
          { grants: ctx.services.grants, maxTopicsPerStream: options.maxTopicsPerStream },
          identity,
          input,
          {
            authorization: ctx.req.headers.authorization ?? bearerFromConnectionParams(ctx.req),
            requestId: ctx.requestId,
          },
        );
        const sink = new QueueSink(options.maxPendingBytes / 2, {
          clientId: randomUUID(),
          tenantId: identity.tenantId,
          userId: identity.userId,
          now: Date.now,
        });
        const session = ctx.services.hub.open(openRequest(identity, stream, sink));
        const onAbort = () => {
          sink.end("client-gone");
          session.close();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          for await (const event of sink) {
            // `connected` and presence are not positions: untracked, so a resume never points at one.
            if (event.untracked === true) yield event.envelope as StreamEnvelope;
            else yield tracked(event.envelope.id, event.envelope as StreamEnvelope);
          }
        } finally {
          signal?.removeEventListener("abort", onAbort);
          session.close();
        }
      }),
      publish: authed
        .input(publishInput)
        .output(publishResultSchema)
        .mutation(async ({ ctx, input }) => {
          try {
            // Served by its own route (publish-route.ts); the failure of a call it made comes
            // here, and tRPC answers in its own format.
            if (ctx.req.refusal !== undefined) throw ctx.req.refusal;
            return await ctx.services.publish(ctx.identity, input, ctx.requestId, ctx.req.headers.authorization);
          } catch (error) {
            const failure = publishFailure(error);
            if (failure === undefined) throw error;
            // The cause tells the tRPC plugin's responseMeta to add Retry-After.
            throw new TRPCError({ code: failure.code, message: failure.message, cause: error });
          }
        }),
    }),
    presence: t.router({
      /** Who has a stream open on a topic, on any instance (the caller must be granted the topic). */
      list: authed
        .input(presenceListInputSchema)
        .output(presenceListResultSchema)
        .query(async ({ ctx, input }) => {
          try {
            await ctx.services.grants.require(ctx.identity, [input.topic], {
              authorization: ctx.req.headers.authorization,
              requestId: ctx.requestId,
            });
          } catch (error) {
            throw topicError(error) ?? error;
          }
          return { topic: input.topic, users: ctx.services.presence.list(ctx.identity.tenantId, input.topic) };
        }),
    }),
    proxy: t.router(createProxyProcedures(authed, operations)),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
