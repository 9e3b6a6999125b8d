// The host's speed at a moment: a fixed piece of work (JSON round trips and buffer copies, what
// the servers themselves do most) timed on each core. The machine is a shared VM whose speed
// moves (one full run saw half the throughput in its last scenarios that partial runs saw an hour
// later: docs/bench.md item 26); a scenario's ratios compare targets measured minutes apart, so
// the report shows the probe before and after each scenario. Run as a script
// (`node speed-probe.mjs <ms>`) it prints its own figure.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const event = { type: "bench", data: { text: "x".repeat(120), n: 42, tags: ["a", "b"] }, tenantId: "t" };
const source = Buffer.alloc(64 * 1024, 1);
const target = Buffer.alloc(64 * 1024);

/** Units of work per millisecond over `ms` (after as long again to warm up the JIT). */
export function work(ms) {
  const run = (until) => {
    let units = 0;
    while (performance.now() < until) {
      for (let i = 0; i < 50; i++) {
        JSON.parse(JSON.stringify(event));
        source.copy(target);
      }
      units += 50;
    }
    return units;
  };
  run(performance.now() + ms);
  const started = performance.now();
  const units = run(started + ms);
  return units / (performance.now() - started);
}

/**
 * The probe on each core, in a fresh child pinned there: run in this process it would also
 * measure the load generator's own heap and garbage.
 */
export function probeSpeed(serverCore, loadgenCore, ms) {
  const self = fileURLToPath(import.meta.url);
  const on = (core) =>
    Number(execFileSync("taskset", ["-c", String(core), process.execPath, self, String(ms)], { encoding: "utf8" }));
  return { serverCore: on(serverCore), loadgenCore: on(loadgenCore) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${work(Number(process.argv[2] ?? 200))}\n`);
}
