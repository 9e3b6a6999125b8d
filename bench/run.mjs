// The benchmark harness: `npm run bench` (full, manual) and `npm run bench -- --quick` (CI).
// Every scenario runs the gateway and its comparators in the same run, in alternating order,
// servers pinned to core 0 and this process (the load generator) to core 1.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join } from "node:path";
import { markdownReport, svgChart } from "./lib/report.mjs";
import {
  fanout,
  idle,
  latency,
  presence,
  proxy,
  publishLoad,
  resume,
  startProxyTarget,
  startResumeTarget,
  twoInstances,
} from "./lib/scenarios.mjs";
import { probeSpeed } from "./lib/speed-probe.mjs";
import { medianFigures } from "./lib/stats.mjs";
import {
  mintTopicUsers,
  mintUsers,
  SERVER_CORE,
  STREAM_TARGETS,
  startGateway,
  startGatewayOnNats,
  startTwoGatewaysOnNats,
} from "./lib/targets.mjs";
import { topicAssignment } from "./lib/topics.mjs";

const LOADGEN_CORE = 1;
const root = new URL("../", import.meta.url).pathname;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
/** `--only=fanout,idle` and `--targets=gateway,naive` narrow a run (a scratch result). */
const listArg = (name) =>
  args
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(",");
const only = listArg("only");
const onlyTargets = listArg("targets");

// Re-run pinned to the load generator's core, with enough file descriptors for 10,000 streams
// on each side.
if (process.env.BENCH_PINNED !== "1") {
  if (spawnSync("taskset", ["--version"]).error !== undefined) {
    console.error("taskset is missing: apt-get install util-linux");
    process.exit(2);
  }
  const script = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec taskset -c ${LOADGEN_CORE} "$0" "$@"`;
  const child = spawnSync("bash", ["-c", script, process.execPath, ...process.execArgv, process.argv[1], ...args], {
    stdio: "inherit",
    env: { ...process.env, BENCH_PINNED: "1" },
  });
  process.exit(child.status ?? 1);
}

const scale = quick ? 0.1 : 1;
const roundsArg = args.find((a) => a.startsWith("--rounds="))?.slice(9);
const rounds = quick ? 1 : Number(roundsArg ?? 3);
/**
 * Latency scenarios take five rounds: within one run a server's p99 moves 2-3 x from round to
 * round (a single GC pause or scheduling stall delays tens of consecutive events), and a median
 * of three let the same code's ratio land on either side of a goal (docs/bench.md).
 */
const latencyRounds = quick ? 1 : Number(roundsArg ?? 5);
const warmupMs = quick ? 100 : 4000;
const durationMs = quick ? 300 : 5000;
/**
 * Latency windows are longer: at 50 broadcasts/s a 5 s window holds 250 events, and its p99
 * over deliveries is set by the two or three slowest of them.
 */
const latencyDurationMs = quick ? 300 : 10_000;
const STREAM_NAMES = ["gateway", "naive", "socket.io", "better-sse", "gateway-nats"];
/**
 * The latency runs also measure the gateway publishing through tRPC's `events.publish`, and
 * the gateway only delivering (a backend publishes to JetStream): the latter separates the
 * cost of the publish call from the cost of delivery. `naive-envelope` is the naive server
 * with frames of the gateway's size, which separates the envelope's bytes from the gateway's
 * delivery path (docs/bench.md, item 28).
 */
const LATENCY_NAMES = [...STREAM_NAMES, "gateway-trpc", "gateway-nats-backend", "naive-envelope"];
const n = (full) => Math.max(10, Math.round(full * scale));
/** What the two latency scenarios' extra rows are, in both descriptions. */
const LATENCY_TARGETS =
  "gateway-nats-backend: a backend publishes to JetStream, the gateway only delivers. naive-envelope: the naive server with frames of the gateway's size (the same data in an envelope of the contract's shape).";

const ratio = (label, a, b, key, goal) => ({ label, a, b, key, goal });
/**
 * The topic fan-out's one topic map (seeded): 1,000 streams (a tenth in --quick), each on 5 of
 * 200 topics (20);
 * the gateway and the naive broadcaster get the same one, and the publishes draw their topics
 * from another seeded sequence, the same on both.
 */
const TOPIC_MAP = { streams: n(1000), topics: n(200), perStream: 5, seed: 21 };
const topicMap = topicAssignment(TOPIC_MAP);
const topicHolders = [...topicMap.holders.values()];
const PRESENCE = { users: n(1000), topics: Math.max(5, Math.round(50 * scale)), listUsers: n(1000) };
/** The two latency scenarios differ only in their load; targets, columns and ratios are the same. */
function latencyScenario({ id, title, description, load }) {
  return {
    id,
    title,
    description,
    offeredPerSec: load.personal ? load.ratePerSec : load.streams * load.ratePerSec,
    targets: LATENCY_NAMES,
    rounds: latencyRounds,
    // Heartbeats every 60 s, longer than a round: a heartbeat is a write to every stream at
    // once, and whether one falls inside a window depends on when the round started, not on
    // the server (the naive server's, to 10,000 streams, is a 60-150 ms stall). The idle
    // scenario measures heartbeats.
    start: (name) => STREAM_TARGETS[name]({ heartbeatMs: 60_000 }),
    run: (t) => latency(t, { ...load, warmupMs, durationMs: latencyDurationMs }),
    columns: [
      { key: "p50Ms", label: "p50 ms", digits: 2 },
      { key: "p99Ms", label: "p99 ms", digits: 2 },
      { key: "p999Ms", label: "p99.9 ms", digits: 2 },
      // The spread a median hides: each round's p99, in the order they ran.
      { key: "p99Ms", label: "p99 ms by round", digits: 1, byRound: true },
      { key: "deliveriesPerSec", label: "deliveries/s" },
    ],
    headline: { key: "p99Ms", label: "p99 ms", lowerIsBetter: true, digits: 2 },
    ratios: [
      ratio("gateway p99 / naive p99", "gateway", "naive", "p99Ms", ["<=", 1.2]),
      ratio("gateway p99 / Socket.IO p99", "gateway", "socket.io", "p99Ms"),
      ratio("gateway p99 / better-sse p99", "gateway", "better-sse", "p99Ms"),
      ratio("gateway (NATS) p99 / gateway p99", "gateway-nats", "gateway", "p99Ms"),
      ratio("gateway (tRPC publish) p99 / naive p99", "gateway-trpc", "naive", "p99Ms"),
      ratio("gateway (NATS, backend publish) p99 / naive p99", "gateway-nats-backend", "naive", "p99Ms"),
      ratio("naive with the gateway's frame size p99 / naive p99", "naive-envelope", "naive", "p99Ms"),
      ratio("gateway p99 / naive with the gateway's frame size p99", "gateway", "naive-envelope", "p99Ms"),
    ],
  };
}

const SCENARIOS = [
  {
    id: "fanout",
    title: "Fan-out",
    description: `${n(1000)} streams of one tenant; ~200-byte broadcasts published through each server's API in a closed loop (up to 64 events per stream and 16 publish requests in flight); delivered events/s across all streams. gateway-nats-backend: the same loop, but a backend publishes to JetStream directly (the gateway only delivers). gateway-demo.message: the gateway publishing the catalog type demo.message (data {text} of the same size, validated once per publish) instead of the untyped bench type. gateway-trpc-stream: the gateway with tRPC events.stream streams (GET /trpc/events.stream, as httpSubscriptionLink opens them) instead of the raw route.`,
    targets: [...STREAM_NAMES, "gateway-nats-backend", "gateway-demo.message", "gateway-trpc-stream"],
    start: (name) => STREAM_TARGETS[name]({}),
    run: (t) => fanout(t, { streams: n(1000), warmupMs, durationMs }),
    columns: [
      { key: "eventsPerSec", label: "delivered events/s" },
      { key: "eventsPerCpuSec", label: "events per server CPU-second" },
    ],
    headline: { key: "eventsPerCpuSec", label: "delivered events per server CPU-second" },
    ratios: [
      ratio("gateway / naive", "gateway", "naive", "eventsPerSec", [">=", 1.0]),
      ratio("gateway / Socket.IO", "gateway", "socket.io", "eventsPerSec", [">=", 1.3]),
      ratio("gateway / better-sse", "gateway", "better-sse", "eventsPerSec", [">=", 1.3]),
      ratio("gateway (NATS) / gateway", "gateway-nats", "gateway", "eventsPerSec", [">=", 0.7]),
      ratio("gateway (NATS, backend) / gateway", "gateway-nats-backend", "gateway", "eventsPerSec", [">=", 0.7]),
      ratio("per CPU-second: gateway / naive", "gateway", "naive", "eventsPerCpuSec", [">=", 1.0]),
      ratio("per CPU-second: gateway / Socket.IO", "gateway", "socket.io", "eventsPerCpuSec", [">=", 1.3]),
      ratio("per CPU-second: gateway / better-sse", "gateway", "better-sse", "eventsPerCpuSec", [">=", 1.3]),
      ratio("per CPU-second: gateway (NATS) / gateway", "gateway-nats", "gateway", "eventsPerCpuSec", [">=", 0.7]),
      ratio("per CPU-second: gateway (NATS, backend) / gateway", "gateway-nats-backend", "gateway", "eventsPerCpuSec", [
        ">=",
        0.7,
      ]),
      ratio("gateway (tRPC events.stream) / gateway (raw route)", "gateway-trpc-stream", "gateway", "eventsPerSec", [
        ">=",
        0.9,
      ]),
      ratio("gateway (demo.message) / gateway (untyped)", "gateway-demo.message", "gateway", "eventsPerSec"),
      ratio(
        "per CPU-second: gateway (demo.message) / gateway (untyped)",
        "gateway-demo.message",
        "gateway",
        "eventsPerCpuSec",
      ),
    ],
  },
  {
    id: "topic-fanout",
    title: "Topic fan-out",
    description: `${TOPIC_MAP.streams} streams of one tenant, each subscribed to ${TOPIC_MAP.perStream} of ${TOPIC_MAP.topics} topics (one seeded assignment, the same for both servers: ${Math.min(...topicHolders)}-${Math.max(...topicHolders)} streams per topic); ~200-byte events, each to a topic drawn with a seeded PRNG, published through each server's API in the fan-out's closed loop (up to 64 undelivered events per stream on average, 16 publish requests in flight); delivered frames/s across all streams. The naive broadcaster keeps a Map from topic to its responses.`,
    targets: ["gateway", "naive"],
    start: (name) => STREAM_TARGETS[name]({}),
    run: (t) => fanout(t, { streams: TOPIC_MAP.streams, warmupMs, durationMs, topicMap, publishSeed: 25 }),
    columns: [
      { key: "eventsPerSec", label: "delivered frames/s" },
      { key: "eventsPerCpuSec", label: "frames per server CPU-second" },
    ],
    headline: { key: "eventsPerCpuSec", label: "delivered topic frames per server CPU-second" },
    ratios: [
      ratio("gateway / naive", "gateway", "naive", "eventsPerSec", [">=", 1.0]),
      ratio("per CPU-second: gateway / naive", "gateway", "naive", "eventsPerCpuSec", [">=", 1.0]),
    ],
  },
  {
    id: "publish",
    title: "Publish, catalog type vs untyped",
    description:
      "POST /events/publish alone (tenant broadcasts by an admin, no stream attached), 16 calls in flight in a closed loop: the untyped type bench (~200-byte data) against the catalog type demo.message (data {text} of the same size, checked against its zod schema); calls/s, calls per server CPU-second and each call's latency.",
    targets: ["untyped", "demo.message"],
    start: (name) => startGateway({ eventType: name === "untyped" ? "bench" : "demo.message" }),
    run: (t) => publishLoad(t, { warmupMs, durationMs }),
    columns: [
      { key: "publishesPerSec", label: "publishes/s" },
      { key: "publishesPerCpuSec", label: "publishes per server CPU-second" },
      { key: "p50Ms", label: "p50 ms", digits: 2 },
      { key: "p99Ms", label: "p99 ms", digits: 2 },
    ],
    headline: { key: "publishesPerCpuSec", label: "publishes per server CPU-second" },
    ratios: [
      ratio("demo.message / untyped (publishes/s)", "demo.message", "untyped", "publishesPerSec"),
      ratio("demo.message / untyped (per CPU-second)", "demo.message", "untyped", "publishesPerCpuSec"),
      ratio("demo.message / untyped (p99)", "demo.message", "untyped", "p99Ms"),
    ],
  },
  latencyScenario({
    id: "latency-broadcast",
    title: "Latency, broadcasts",
    description: `${n(1000)} streams of one tenant, 50 broadcasts/s (${n(1000) * 50} deliveries/s); end-to-end latency from the publish call to frame receipt. ${LATENCY_TARGETS}`,
    load: { streams: n(1000), ratePerSec: 50, personal: false },
  }),
  latencyScenario({
    id: "latency-personal",
    title: "Latency, personal events",
    description: `${n(10000)} streams of distinct users, ${n(500)} personal events/s round-robin (each to one user); end-to-end latency. ${LATENCY_TARGETS}`,
    load: { streams: n(10000), ratePerSec: n(500), personal: true },
  }),
  {
    id: "idle",
    title: "Idle capacity",
    description: `${n(10000)} idle streams with a heartbeat every 5 s: server RSS growth per stream, server CPU while idle. gateway-trpc-stream: the gateway's streams are tRPC events.stream subscriptions.`,
    targets: ["gateway", "naive", "socket.io", "better-sse", "gateway-trpc-stream"],
    start: (name) => STREAM_TARGETS[name]({ heartbeatMs: 5000 }),
    run: (t) => idle(t, { streams: n(10000), settleMs: quick ? 100 : 2000, durationMs: quick ? 300 : 10_000 }),
    columns: [
      { key: "rssPerStreamKB", label: "RSS per stream KB", digits: 1 },
      { key: "rssMB", label: "RSS MB", digits: 0 },
    ],
    headline: { key: "rssPerStreamKB", label: "RSS per idle stream (KB)", lowerIsBetter: true, digits: 1 },
    ratios: [
      ratio("gateway / naive (KB per stream)", "gateway", "naive", "rssPerStreamKB", ["<=", 1.2]),
      ratio(
        "gateway (tRPC events.stream) / gateway (raw route), KB per stream",
        "gateway-trpc-stream",
        "gateway",
        "rssPerStreamKB",
        ["<=", 1.2],
      ),
      ratio("gateway / Socket.IO (KB per stream)", "gateway", "socket.io", "rssPerStreamKB", ["<", 1.0]),
      ratio("gateway / better-sse (KB per stream)", "gateway", "better-sse", "rssPerStreamKB"),
    ],
  },
  {
    id: "resume",
    title: "Resume catch-up",
    description: `${n(100)} streams resume together from a position ${n(10000)} events behind the head: from the hub's replay buffers, from the in-process bus history, and from JetStream; events/s delivered until all are caught up.`,
    targets: ["hub buffer", "in-process bus", "jetstream"],
    start: (name) =>
      startResumeTarget(name === "jetstream" ? "jetstream" : "memory", n(10000)).then((t) => ({ ...t, variant: name })),
    run: (t) => resume(t, { streams: n(100), events: n(10000), source: t.variant === "hub buffer" ? "buffer" : "bus" }),
    columns: [
      { key: "eventsPerSec", label: "catch-up events/s" },
      { key: "eventsPerCpuSec", label: "events per server CPU-second" },
    ],
    headline: { key: "eventsPerSec", label: "catch-up events/s" },
    ratios: [ratio("JetStream catch-up events/s", "jetstream", undefined, "eventsPerSec", [">=", 50_000])],
  },
  {
    id: "proxy",
    title: "Proxy",
    description:
      "Small JSON GETs, 32 keep-alive connections in a closed loop: the upstream direct, a bare @fastify/http-proxy, the same with what a gateway needs (fastify-http-proxy-auth: the bearer JWT verified with jose on every request, client identity headers removed, x-tenant-id / x-user-id / x-request-id set) and the gateway's /api/* (all in front of the same upstream, which shares the server core; server CPU is the proxy's, or the upstream's for direct).",
    targets: ["gateway", "fastify-http-proxy", "fastify-http-proxy-auth", "direct"],
    start: (name) => startProxyTarget(name),
    run: (t) => proxy(t, { connections: 32, warmupMs, durationMs }),
    columns: [
      { key: "requestsPerSec", label: "requests/s" },
      { key: "p50Ms", label: "p50 ms", digits: 2 },
      { key: "p99Ms", label: "p99 ms", digits: 2 },
    ],
    headline: { key: "requestsPerSec", label: "requests/s" },
    ratios: [
      ratio("gateway / @fastify/http-proxy (requests/s)", "gateway", "fastify-http-proxy", "requestsPerSec", [
        ">=",
        0.9,
      ]),
      ratio(
        "gateway / @fastify/http-proxy with auth and identity headers (requests/s)",
        "gateway",
        "fastify-http-proxy-auth",
        "requestsPerSec",
        [">=", 1.0],
      ),
      ratio("gateway / direct (requests/s)", "gateway", "direct", "requestsPerSec"),
      { label: "gateway added p99 ms (vs direct)", a: "gateway", b: "direct", key: "p99Ms", difference: true },
      {
        label: "@fastify/http-proxy added p99 ms (vs direct)",
        a: "fastify-http-proxy",
        b: "direct",
        key: "p99Ms",
        difference: true,
      },
    ],
  },
  {
    id: "nats-two-instances",
    title: "Two instances on one NATS",
    description: `Two gateways on one nats-server. A serves ${n(1000)} streams of one tenant at full fan-out (a backend publishes ~200-byte broadcasts to JetStream in scenario 1's closed loop); B serves ${n(100)} streams of another tenant and follows none of A's keys. CPU-seconds of each over the whole loop (warm-up included): what B pays for events none of its clients want. Before interest-based delivery every instance read and decoded every event.`,
    targets: ["gateway-nats-two"],
    start: () => startTwoGatewaysOnNats({ otherStreams: n(100) }),
    run: (t) => twoInstances(t, { streams: n(1000), otherStreams: n(100), warmupMs, durationMs }),
    columns: [
      { key: "eventsPerSec", label: "A: delivered events/s" },
      { key: "aCpuSeconds", label: "A CPU-s", digits: 2 },
      { key: "bCpuSeconds", label: "B CPU-s", digits: 3 },
      { key: "bOverA", label: "B / A CPU", digits: 3 },
    ],
    headline: { key: "bOverA", label: "B's CPU-seconds / A's", lowerIsBetter: true, digits: 3 },
    ratios: [
      ratio("B CPU-s / A CPU-s (B follows none of the events)", "gateway-nats-two", undefined, "bOverA", ["<", 0.05]),
    ],
  },
  {
    id: "presence",
    title: "Presence on NATS",
    description: `The gateway on its own nats-server. ${PRESENCE.users} users each open one stream on one of ${PRESENCE.topics} topics (with presence frames), then all close: NATS messages per join and per leave, counted on the control subject by a subscriber (presence changes; the 5-second refreshes that fell in the windows are counted apart) and in nats-server's /varz (in_msgs and out_msgs, everything it routed: JetStream's traffic and the counting subscriber's copies included). Then ${PRESENCE.listUsers} users on one topic and tRPC presence.list for it, one keep-alive connection in a closed loop: its latency.`,
    targets: ["gateway-nats"],
    start: () => startGatewayOnNats({}),
    run: (t) => presence(t, { ...PRESENCE, warmupMs, durationMs }),
    columns: [
      { key: "changeMsgsPerJoin", label: "change msgs per join", digits: 3 },
      { key: "changeMsgsPerLeave", label: "change msgs per leave", digits: 3 },
      { key: "refreshMsgs", label: "refresh msgs in the windows" },
      { key: "natsInMsgsPerJoinLeave", label: "varz in_msgs per join/leave", digits: 3 },
      { key: "natsOutMsgsPerJoinLeave", label: "varz out_msgs per join/leave", digits: 3 },
      { key: "listP50Ms", label: `presence.list p50 ms (${PRESENCE.listUsers} users)`, digits: 2 },
      { key: "listP99Ms", label: "presence.list p99 ms", digits: 2 },
      { key: "listPerSec", label: "presence.list calls/s" },
    ],
    headline: {
      key: "listP99Ms",
      label: `presence.list p99 ms, ${PRESENCE.listUsers} users`,
      lowerIsBetter: true,
      digits: 2,
    },
    ratios: [],
  },
];

function computeRatio(r, byName) {
  const a = byName.get(r.a)?.median?.[r.key];
  const b = r.b === undefined ? 1 : byName.get(r.b)?.median?.[r.key];
  const value = a === undefined || b === undefined ? Number.NaN : r.difference ? a - b : a / b;
  const [op, bound] = r.goal ?? [];
  const met = op === ">=" ? value >= bound : op === "<=" ? value <= bound : op === "<" ? value < bound : undefined;
  const nearCapacity = [r.a, r.b].filter((name) => byName.get(name)?.nearCapacity !== undefined);
  return { label: r.label, value, goal: r.goal === undefined ? undefined : `${op} ${bound}`, met, nearCapacity };
}

/**
 * A fixed-rate scenario measures delivery while a server keeps up with the rate with room to
 * spare. A server that falls behind it, or needs most of its core for it, is measuring its
 * queue: the report says so beside its figures and beside every ratio it is in (docs/bench.md,
 * run history: the 09:34 UTC run on a slower host).
 */
const NEAR_CAPACITY_CPU = 0.75;
function capacityNote(entry, offeredPerSec) {
  const behind = entry.rounds.filter((r) => r.deliveriesPerSec < 0.99 * offeredPerSec).length;
  const notes = [];
  if (behind > 0) notes.push(`behind the offered rate in ${behind} of ${entry.rounds.length} rounds`);
  if (entry.median.serverCpu >= NEAR_CAPACITY_CPU)
    notes.push(`server CPU ${Math.round(entry.median.serverCpu * 100)} %`);
  return notes.length > 0 ? notes.join(", ") : undefined;
}

async function runScenario(s) {
  const names = onlyTargets === undefined ? s.targets : s.targets.filter((name) => onlyTargets.includes(name));
  const byName = new Map(names.map((name) => [name, { name, rounds: [] }]));
  const scenarioRounds = s.rounds ?? rounds;
  for (let round = 0; round < scenarioRounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const entry = byName.get(name);
      if (entry.unavailable !== undefined || entry.error !== undefined) continue;
      let target;
      try {
        target = await s.start(name);
        if (target.unavailable !== undefined) {
          entry.unavailable = target.unavailable;
          log(`  ${s.id} / ${name}: ${target.unavailable}`);
          continue;
        }
        const figures = await s.run(target);
        entry.rounds.push(figures);
        log(
          `  ${s.id} / ${name} round ${round + 1}: ${JSON.stringify(figures, (_, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v))}`,
        );
      } catch (error) {
        entry.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
        log(`  ${s.id} / ${name}: ERROR ${entry.error}`);
      } finally {
        await target?.stop?.();
        // Let the kernel finish tearing down the last target's sockets before the next one.
        await new Promise((resolve) => setTimeout(resolve, quick ? 20 : 1000));
      }
    }
  }
  for (const entry of byName.values()) {
    if (entry.rounds.length === 0) continue;
    entry.median = medianFigures(entry.rounds);
    if (s.offeredPerSec !== undefined) entry.nearCapacity = capacityNote(entry, s.offeredPerSec);
  }
  return {
    id: s.id,
    title: s.title,
    description: s.description,
    offeredPerSec: s.offeredPerSec,
    rounds: scenarioRounds,
    columns: s.columns,
    headline: s.headline,
    targets: [...byName.values()],
    ratios: s.ratios.map((r) => computeRatio(r, byName)),
  };
}

const log = (line) => process.stdout.write(`${line}\n`);

const started = Date.now();
// Only the server and what it imports (shared): the whole workspace's build is 10× longer.
log(`building the gateway (npx tsc -b server) …`);
execFileSync("npx", ["tsc", "-b", "server"], { cwd: root, stdio: "inherit" });
await mintUsers(n(10000));
await mintTopicUsers(Math.max(TOPIC_MAP.streams, PRESENCE.users, PRESENCE.listUsers));
const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  os: `Linux ${release()}`,
  node: process.versions.node,
  serverCore: SERVER_CORE,
  loadgenCore: LOADGEN_CORE,
  loadAverageAtStart: loadavg(),
};
const results = {
  date: new Date().toISOString(),
  command: `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`,
  quick,
  machine,
  scenarios: [],
};
// The host's speed between scenarios (nothing else runs then): what a scenario saw is between
// the probe before it and the one after it.
const probe = () => probeSpeed(SERVER_CORE, LOADGEN_CORE, quick ? 25 : 200);
let speed = probe();
machine.speedAtStart = speed;
for (const s of SCENARIOS) {
  if (only !== undefined && !only.includes(s.id)) continue;
  log(`${s.title} (${s.id})`);
  const result = await runScenario(s);
  const before = speed;
  speed = probe();
  results.scenarios.push({ ...result, speed: { before, after: speed } });
}
results.durationS = (Date.now() - started) / 1000;

const day = results.date.slice(0, 10);
// Only a complete default run is a published result; quick and partial runs are scratch.
const scratch = quick || only !== undefined || onlyTargets !== undefined || args.some((a) => a.startsWith("--rounds="));
const dir = scratch ? join(root, "bench/results/scratch") : join(root, "bench/results");
mkdirSync(dir, { recursive: true });
const base = join(dir, only === undefined ? day : `${day}-${only.join("+")}`);
writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(`${base}.md`, `${markdownReport(results)}\n`);
writeFileSync(`${base}.svg`, svgChart(results));
// Published results are committed: keep them in the repository's format (npm run check).
if (!scratch) spawnSync("npx", ["biome", "format", "--write", `${base}.json`, `${base}.md`], { cwd: root });
log(`\n${markdownReport(results)}`);
log(`results: ${base}.{json,md,svg} (${results.durationS.toFixed(0)} s)`);

// CI fails on a broken scenario or a missing comparator, never on the figures themselves.
const failures = results.scenarios.flatMap((s) =>
  s.targets.filter((t) => t.error !== undefined).map((t) => `${s.id}/${t.name}`),
);
if (failures.length > 0) {
  log(`failed: ${failures.join(", ")}`);
  process.exit(1);
}
// Every server was stopped; what may still hold the loop open is idle keep-alive sockets.
process.exit(0);
