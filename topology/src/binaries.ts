import { spawnSync } from "node:child_process";

const CANDIDATES = {
  "nats-server": [process.env.NATS_SERVER_BIN, "nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"],
  "redis-server": [process.env.REDIS_SERVER_BIN, "redis-server", "/usr/bin/redis-server"],
  caddy: [process.env.CADDY_BIN, "caddy", "/usr/bin/caddy"],
} as const;

export type Tool = keyof typeof CANDIDATES;

/** The first candidate of `tool` that runs (`--version`, or `version` for Caddy); throws naming the package. */
export function findBinary(tool: Tool): string {
  for (const candidate of CANDIDATES[tool]) {
    if (candidate === undefined || candidate === "") continue;
    const probe = spawnSync(candidate, [tool === "caddy" ? "version" : "--version"], { encoding: "utf8" });
    if (probe.status === 0) return candidate;
  }
  throw new Error(`${tool} not found: install it (Debian: apt-get install ${tool})`);
}
