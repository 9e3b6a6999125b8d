import { readFileSync } from "node:fs";

/** Descriptors kept free for what is not a client socket: NATS, Redis, the upstream pool, files, logs. */
const RESERVED_DESCRIPTORS = 256;

/** The soft limit on open files (Linux: `/proc/self/limits`); undefined where it cannot be read. */
function openFilesLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return line?.[1] === undefined || line[1] === "unlimited" ? undefined : Number(line[1]);
  } catch {
    return undefined;
  }
}

/**
 * How many client sockets the server keeps open at once (`server.maxConnections`; beyond it new
 * connections are closed at once and counted). Below the descriptor limit, so that a flood of
 * idle connections is refused instead of exhausting descriptors (`EMFILE`), which would fail
 * every file, DNS and upstream operation of the process, and then the process.
 */
export function defaultMaxSockets(): number | undefined {
  const limit = openFilesLimit();
  if (limit === undefined) return undefined;
  return Math.max(64, Math.floor(limit * 0.9) - RESERVED_DESCRIPTORS);
}
