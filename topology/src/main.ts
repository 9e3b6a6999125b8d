// `npm run topology`: the deployment of deploy/compose.yaml from local binaries, until Ctrl-C.
import { startTopology, type Topology } from "./topology.js";

const keepDir = process.argv.includes("--keep");
let topology: Topology;
try {
  topology = await startTopology({
    keepDir,
    ...(process.env.JWT_SECRET ? { jwtSecret: process.env.JWT_SECRET } : {}),
    ...(process.env.STREAM_TOKEN_SECRET ? { streamTokenSecret: process.env.STREAM_TOKEN_SECRET } : {}),
  });
} catch (error) {
  process.stderr.write(`topology failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

const { url, caCertificateFile: ca } = topology;
process.stdout.write(
  [
    "",
    "circl-bff topology is up: 3 NATS nodes (JetStream, stream at 3 replicas), Redis, 2 gateways, Caddy.",
    "",
    `  ${url}/    HTTP/2 over TLS (Caddy's internal CA: ${ca})`,
    ...topology.gateways.map((gateway) => `  ${gateway.name}  ${gateway.url}  (direct, bypassing the proxy)`),
    ...topology.nats.nodes.map((node) => `  ${node.name}     nats://127.0.0.1:${node.port}`),
    `  redis       ${topology.redis.url}`,
    `  logs        ${topology.dir}${keepDir ? " (kept after exit)" : " (removed on exit; --keep keeps them)"}`,
    "",
    "Dev access token (user dev-user, tenant dev-tenant, roles admin, every topic, valid 24 h):",
    "",
    `  export TOKEN=${topology.devToken}`,
    "",
    "Open a stream through the proxy, and publish from another terminal:",
    `  curl --cacert ${ca} -N -H "Authorization: Bearer $TOKEN" ${url}/events/stream`,
    `  curl --cacert ${ca} -X POST -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `       -d '{"type":"hello","data":{"text":"hi"},"to":"me"}' ${url}/events/publish`,
    `Demo page: ${url}/#token=${topology.devToken}`,
    "Tokens for other users (the gateways' development JWT_SECRET):",
    `  npx circl-bff token --sub alice --tenant acme --secret ${topology.jwtSecret}`,
    "",
    "Ctrl-C stops everything.",
    "",
  ].join("\n"),
);

let stopping = false;
const shutdown = (signal: NodeJS.Signals) => {
  if (stopping) {
    process.stderr.write(`${signal} again: exiting without waiting\n`);
    process.exit(1);
  }
  stopping = true;
  process.stdout.write(`${signal}: stopping Caddy, the gateways, Redis and NATS…\n`);
  void topology.stop().then(
    () => {
      process.stdout.write("topology stopped\n");
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
