import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { DestinationStream } from "pino";
import type { EventBus } from "./bus/event-bus.js";
import type { Config } from "./config.js";
import { sendError } from "./http/error-response.js";
import { defaultMaxSockets } from "./http/socket-cap.js";
import { loggerOptions } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { PresenceTracker } from "./presence/presence-tracker.js";
import { registerRoutes } from "./routes.js";
import { createServices, type ServiceDeps } from "./services.js";
import type { Hub } from "./stream/hub.js";

export type { AppRouter } from "./trpc/router.js";

export type AppDeps = Omit<ServiceDeps, "log"> & {
  /** Where logs go (tests capture them). */
  logStream?: DestinationStream;
};

export type App = FastifyInstance & { hub: Hub; bus: EventBus; metrics: Metrics; presence: PresenceTracker };

/** Largest request body outside the raw proxy (which has `PROXY_BODY_LIMIT_BYTES`). */
const BODY_LIMIT_BYTES = 1_048_576;
/** Route parameters up to the longest id (256 characters). */
const MAX_PARAM_LENGTH = 256;
/** How often, during a close, keep-alive connections that went idle are closed. */
const IDLE_SWEEP_MS = 50;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the gateway from a parsed config: the services (`createServices`), then the HTTP side
 * over them (`registerRoutes`). `main.ts` listens; tests call this directly.
 */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const app = Fastify(fastifyOptions(config, deps.logStream));
  const services = await createServices(config, { ...deps, log: app.log });
  const maxSockets = config.maxSockets ?? defaultMaxSockets();
  if (maxSockets !== undefined) {
    app.server.maxConnections = maxSockets;
    app.server.on("drop", () => services.metrics.socketsDropped.inc());
  }

  // Fastify closes only idle connections: end the streams so clients reconnect elsewhere.
  // Keep-alive connections whose last request finishes during the close are closed as they go
  // idle (Fastify's "idle" mode closes only those idle when the close starts).
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook("preClose", async () => {
    services.hub.close();
    idleSweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS);
  });
  app.addHook("onClose", async () => {
    clearInterval(idleSweep);
    await services.close();
  });

  await registerRoutes(app, services);
  logExposure(app, config);
  const { hub, bus, metrics, presence } = services;
  return Object.assign(app as FastifyInstance, { hub, bus, metrics, presence });
}

/**
 * In production, start-up says what is exposed beyond the API: a `/metrics` anyone can read (no
 * `METRICS_TOKEN`) is a warning, the demo page (served only when `DEMO_PAGE=true` asks) a notice.
 */
function logExposure(app: FastifyInstance, config: Config): void {
  if (!config.production) return;
  if (config.metricsToken === undefined) {
    app.log.warn(
      "METRICS_TOKEN is not set: /metrics is public; set METRICS_TOKEN or keep the port away from untrusted networks",
    );
  }
  if (config.demoPage) app.log.info("DEMO_PAGE=true: the demo page is served at /");
}

function fastifyOptions(config: Config, logStream: DestinationStream | undefined): FastifyServerOptions {
  return {
    logger: loggerOptions(config.logLevel, logStream),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    return503OnClosing: true,
    // Fastify's own refusals (undecodable URL, overlong parameter) in the contract's error shape.
    frameworkErrors: (error, _request, reply) =>
      sendError(
        reply,
        error.statusCode ?? 400,
        error.code === "FST_ERR_BAD_URL" ? "invalid path: malformed percent-encoding" : error.message,
      ),
    // On close: idle keep-alive connections go at once, requests in flight finish (a publish
    // answered, a proxied call returned); streams are ended by the hub in `preClose`.
    forceCloseConnections: "idle",
    trustProxy:
      typeof config.trustProxy === "number"
        ? (_address: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
  };
}
