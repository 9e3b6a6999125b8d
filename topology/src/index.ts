export { CADDYFILE } from "./caddy.js";
export { GATEWAY_MAIN, GatewayInstance } from "./gateway.js";
export { type Exit, ManagedProcess } from "./managed-process.js";
export { NatsCluster, type NatsNode } from "./nats-cluster.js";
export { RedisServer } from "./redis.js";
export {
  DEV_JWT_SECRET,
  DEV_STREAM_TOKEN_SECRET,
  startTopology,
  type Topology,
  type TopologyOptions,
} from "./topology.js";
export { httpStatus, until } from "./wait.js";
