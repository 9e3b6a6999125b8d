import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { EventBus } from "../bus/event-bus.js";
import type { Metrics } from "../metrics.js";
import type { Hub } from "../stream/hub.js";
import { sendError } from "./error-response.js";

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `/health`, `/ready`, `/metrics`. */
export function registerOpsRoutes(
  app: FastifyInstance,
  deps: {
    bus: EventBus;
    busKind: string;
    hub: Hub;
    metrics: Metrics;
    metricsToken?: string;
    /** The shared rate-limit store's state (`REDIS_URL`): reported, not a reason to refuse traffic. */
    rateLimitStore?: () => "ok" | "unavailable" | undefined;
  },
): void {
  const publicRoute = { config: { auth: "none" as const } };
  app.get("/health", publicRoute, async () => ({ status: "ok" }));

  app.get("/ready", publicRoute, async (_request, reply) => {
    const ready = deps.bus.readyForTraffic?.() ?? deps.bus.isReady();
    const store = deps.rateLimitStore?.();
    return reply.code(ready ? 200 : 503).send({
      status: ready ? "ready" : "unavailable",
      bus: deps.busKind,
      streams: deps.hub.connectionCount,
      // Fail-open: without its store the instance serves without rate limits, and says so.
      ...(store === undefined ? {} : { rateLimitStore: store }),
    });
  });

  app.get("/metrics", publicRoute, async (request, reply) => {
    if (deps.metricsToken !== undefined) {
      const given = request.headers.authorization?.startsWith("Bearer ") ? request.headers.authorization.slice(7) : "";
      if (!sameSecret(given, deps.metricsToken)) {
        reply.header("www-authenticate", given === "" ? "Bearer" : 'Bearer error="invalid_token"');
        return sendError(reply, 401, "metrics require the metrics token");
      }
    }
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
