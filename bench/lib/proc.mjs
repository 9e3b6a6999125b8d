import { spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** A port that was free a moment ago (the child binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server process pinned to `core` (taskset execs, so the pid is the server's own) and
 * resolves once `ready()` succeeds. Output is kept for error messages.
 */
export async function startProcess({ name, command, args, env, core, ready, timeoutMs = 20_000, graceful = false }) {
  const child = spawn("taskset", ["-c", String(core), command, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // BENCH_SERVER_LOG=<file>: every server's output is appended there too (e.g. with --trace-gc).
  const log = process.env.BENCH_SERVER_LOG;
  const keep = (chunk) => {
    if (log !== undefined) appendFileSync(log, chunk);
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited early (${child.exitCode}):\n${output}`);
    try {
      if (await ready()) break;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} not ready after ${timeoutMs} ms (${lastError?.message ?? "no answer"}):\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    name,
    pid: child.pid,
    output: () => output,
    /** SIGKILL, or SIGTERM first when the process must write something on exit (a CPU profile). */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (graceful) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
        return;
      }
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** Measures CPU use of a server process and of this process (the load generator) over a window. */
export function cpuMeter(pid) {
  const server0 = cpuSeconds(pid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    return {
      seconds: wall,
      serverCpu: (cpuSeconds(pid) - server0) / wall,
      loadgenCpu: (self.user + self.system) / 1e6 / wall,
    };
  };
}
