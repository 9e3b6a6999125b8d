import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { findBinary } from "./binaries.js";
import { Caddy } from "./caddy.js";
import { freePort } from "./free-port.js";
import { GatewayInstance } from "./gateway.js";
import { NatsCluster } from "./nats-cluster.js";
import { RedisServer } from "./redis.js";

/** Development secrets (at least 32 bytes each, and different): never use them anywhere else. */
export const DEV_JWT_SECRET = "circl-topology-dev-jwt-secret-0123456789abcdef";
export const DEV_STREAM_TOKEN_SECRET = "circl-topology-dev-stream-secret-0123456789ab";

export type TopologyOptions = {
  jwtSecret?: string;
  streamTokenSecret?: string;
  /** Extra gateway environment (config variables of server/src/config.ts), applied last. */
  gatewayEnv?: Record<string, string>;
  /** Keep the folder with stores and logs after `stop()`. */
  keepDir?: boolean;
};

export type Topology = {
  /** The proxy: https://localhost:<port> (HTTP/2, Caddy's internal CA). */
  url: string;
  /** The same proxy by IP (the certificate covers both names). */
  ipUrl: string;
  /** PEM of the CA that signed the proxy's certificate. */
  caCertificate: string;
  caCertificateFile: string;
  jwtSecret: string;
  /** What `npm start` prints: an access token for dev-user of dev-tenant (admin, every topic), 24 h. */
  devToken: string;
  gateways: GatewayInstance[];
  nats: NatsCluster;
  redis: RedisServer;
  caddy: Caddy;
  /** Stores, journals and one log file per process. */
  dir: string;
  stop(): Promise<void>;
};

/**
 * The deployment of deploy/compose.yaml from local binaries: three NATS nodes in one JetStream
 * cluster (the stream at 3 replicas), Redis for the shared rate limits, two gateways
 * (`node server/dist/main.js`, run `npm run build` first) and Caddy with deploy/Caddyfile, all
 * on free ports of 127.0.0.1, in a temporary folder.
 */
export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const binaries = { nats: findBinary("nats-server"), redis: findBinary("redis-server"), caddy: findBinary("caddy") };
  const dir = await mkdtemp(path.join(tmpdir(), "circl-topology-"));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
    if (options.keepDir !== true) await rm(dir, { recursive: true, force: true });
  };
  try {
    const nats = await NatsCluster.create(dir, binaries.nats);
    stops.push(() => nats.stop());
    await nats.waitHealthy();

    const redis = await RedisServer.create(dir, binaries.redis);
    stops.push(async () => {
      await redis.stop();
      await redis.process.closeLog();
    });

    const httpsPort = await freePort();
    const jwtSecret = options.jwtSecret ?? DEV_JWT_SECRET;
    const env: Record<string, string> = {
      NODE_ENV: "development",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      JWT_SECRET: jwtSecret,
      STREAM_TOKEN_SECRET: options.streamTokenSecret ?? DEV_STREAM_TOKEN_SECRET,
      NATS_URL: nats.urls,
      NATS_STREAM_REPLICAS: "3",
      // One folder for both, as a shared volume: a restarted gateway sends what a dead one had queued.
      NATS_PUBLISH_JOURNAL_DIR: path.join(dir, "publish-journal"),
      REDIS_URL: redis.url,
      CORS_ORIGINS: `https://localhost:${httpsPort},https://127.0.0.1:${httpsPort}`,
      // Caddy connects from 127.0.0.1 and sets X-Forwarded-For: per-IP limits see the client.
      TRUST_PROXY: "loopback",
      ...options.gatewayEnv,
    };
    const gateways: GatewayInstance[] = [];
    for (const name of ["gateway-1", "gateway-2"]) {
      const gateway = new GatewayInstance(name, await freePort(), env, dir);
      gateways.push(gateway);
      stops.push(async () => {
        await gateway.stop();
        await gateway.process.closeLog();
      });
      // One after the other: the first creates the stream, the second adopts it.
      await gateway.start();
    }

    const caddy = await Caddy.start({
      binary: binaries.caddy,
      dir,
      httpsPort,
      httpPort: await freePort(),
      upstreams: gateways.map((gateway) => `127.0.0.1:${gateway.port}`),
    });
    stops.push(() => caddy.stop());
    const first = gateways[0] as GatewayInstance;

    return {
      url: caddy.url,
      ipUrl: `https://127.0.0.1:${httpsPort}`,
      caCertificate: await caddy.caCertificate(),
      caCertificateFile: path.join(dir, "caddy-data", "caddy", "pki", "authorities", "local", "root.crt"),
      jwtSecret,
      devToken: await first.devToken(),
      gateways,
      nats,
      redis,
      caddy,
      dir,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
