// First, before the modules whose objects it is about are loaded (see gc-tuning.ts).
import "./gc-tuning.js";
import closeWithGrace from "close-with-grace";
import { buildApp } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import type { DemoUpstream } from "./demo-upstream/demo-upstream.js";
import { DEV_IDENTITY, devBanner, mintDevToken } from "./dev-token.js";

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
    process.exit(1);
  }
}

let config = readConfig();
// Tracing starts before the app is built: its instrumentations attach to each Fastify instance as
// it is created and to undici's diagnostics channels. Without an OTLP endpoint nothing is loaded.
const tracing =
  config.tracing === undefined
    ? undefined
    : await import("./telemetry/tracing.js")
        .then(({ startTracing }) => startTracing(config.tracing as NonNullable<Config["tracing"]>))
        .catch((error: unknown) => {
          process.stderr.write(`startup failed: tracing: ${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(1);
        });
// Development without UPSTREAM_URL proxies /api/* to the built-in demo upstream (production: 503).
let demoUpstream: DemoUpstream | undefined;
if (!config.production && config.upstream.url === undefined) {
  // Loaded here only: a production process never loads the demo's code.
  const { startDemoUpstream } = await import("./demo-upstream/demo-upstream.js");
  demoUpstream = await startDemoUpstream();
  config = { ...config, upstream: { ...config.upstream, url: demoUpstream.url } };
}
const devToken =
  !config.production && config.jwt.secret !== undefined
    ? await mintDevToken(config.jwt.secret, {
        sub: DEV_IDENTITY.sub,
        tenantClaim: config.jwt.tenantClaim,
        tenantId: DEV_IDENTITY.tenantId,
        rolesClaim: config.jwt.rolesClaim,
        roles: DEV_IDENTITY.roles,
        topicsClaim: config.jwt.topicsClaim,
        topics: DEV_IDENTITY.topics,
      })
    : undefined;

const app = await buildApp(config, {
  devToken,
  // The stream's positions are meaningless now: exit, and let the supervisor start a process
  // that adopts the new stream (new epoch: clients get `reset`).
  onStreamReplaced: (reason) => {
    app.log.fatal({ reason }, "JetStream stream replaced; restarting");
    void app.close().finally(() => process.exit(1));
  },
}).catch((error: unknown) => {
  // E.g. NATS unreachable at startup, or an existing stream the gateway cannot use: one clear line.
  process.stderr.write(`startup failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
if (config.tracing !== undefined) {
  const { url, protocol } = config.tracing;
  app.log.info({ endpoint: `${url.origin}${url.pathname}`, protocol }, "OpenTelemetry tracing on");
}
if (demoUpstream !== undefined) {
  app.log.info(
    { upstream: demoUpstream.url.href },
    "UPSTREAM_URL is not set: /api/* goes to the built-in demo upstream",
  );
}

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, "shutting down after an error");
  else app.log.info({ signal }, "shutting down");
  await app.close();
  await demoUpstream?.close();
  await tracing?.shutdown(); // sends the spans still batched
});

await app.listen({ port: config.port, host: config.host });
if (devToken !== undefined) {
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  process.stdout.write(`${devBanner(`http://localhost:${port}`, devToken, app.bus.kind)}\n`);
}
