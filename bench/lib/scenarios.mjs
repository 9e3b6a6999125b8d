import { getLoad, httpJson } from "./http.mjs";
import { cpuMeter, freePort, rssBytes, startProcess } from "./proc.mjs";
import { quantile } from "./stats.mjs";
import { Fleet } from "./streams.mjs";
import { accessToken, SERVER_CORE, STREAM_TARGETS, startGateway, TENANT } from "./targets.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const PAD = "x".repeat(170);
/** ~200 bytes of JSON; `t` is the publish time on the load generator's clock. */
const eventData = () => ({ t: Math.round(performance.now() * 1000) / 1000, pad: PAD });

function latencyFigures(latencies) {
  return {
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    p999Ms: quantile(latencies, 0.999),
    samples: latencies.length,
  };
}

/** After the streams are attached, before the load: the connection burst is over. */
const SETTLE_MS = process.argv.includes("--quick") ? 50 : 1000;

/**
 * The connection burst leaves every server with garbage its first full collection will
 * mark — 10,000 connects take a heap from ~20 to ~145 MB — and that collection lands
 * wherever the server's allocation rate puts it: inside one round's measured window, before
 * another's. Every server collects it on a signal (bench/lib/gc-on-signal.mjs) before the
 * load starts, so each round measures the steady state the scenario is about. The answer to a
 * request sent after the signal means the server is responsive again; the warm-up follows.
 */
async function settle(target) {
  await sleep(SETTLE_MS);
  process.kill(target.proc.pid, "SIGWINCH");
  await httpJson(target.port, "GET", "/ready", { timeoutMs: 10_000 });
}

async function withStreams(target, streams, fn) {
  const fleet = new Fleet();
  try {
    await fleet.open(streams, { kind: target.kind, port: target.port, request: target.streamRequest });
    await settle(target);
    return await fn(fleet);
  } finally {
    fleet.close();
  }
}

function checkFleet(fleet) {
  if (fleet.errors.length > 0) throw new Error(`${fleet.errors.length} stream errors, first: ${fleet.errors[0]}`);
}

/** 1. Broadcasts at saturation: a closed loop keeps `window` events per stream in flight. */
export async function fanout(target, { streams, warmupMs, durationMs, window = 64 }) {
  return withStreams(target, streams, async (fleet) => {
    let published = 0;
    let inFlight = 0;
    let failure;
    const pump = () => {
      while (failure === undefined && inFlight < 16 && published - fleet.events / streams < window) {
        published++;
        inFlight++;
        target.publish(eventData()).then(
          () => {
            inFlight--;
            pump();
          },
          (error) => {
            failure = error;
          },
        );
      }
    };
    fleet.onEvents = pump;
    pump();
    await sleep(warmupMs);
    const e0 = fleet.events;
    const meter = cpuMeter(target.proc.pid);
    await sleep(durationMs);
    const cpu = meter();
    const delivered = fleet.events - e0;
    fleet.onEvents = null;
    published = Number.POSITIVE_INFINITY; // stop the loop
    if (failure !== undefined) throw failure;
    checkFleet(fleet);
    return {
      eventsPerSec: delivered / cpu.seconds,
      // The machine is shared: what the server delivers per second of CPU it actually got.
      eventsPerCpuSec: delivered / (cpu.serverCpu * cpu.seconds),
      serverCpu: cpu.serverCpu,
      loadgenCpu: cpu.loadgenCpu,
    };
  });
}

/** 2. Fixed-rate publishing; latency from publish call to frame receipt. */
export async function latency(target, { streams, ratePerSec, personal, warmupMs, durationMs }) {
  return withStreams(target, streams, async (fleet) => {
    let published = 0;
    let failure;
    // Recording from the first event, not from the window's start: the load generator's
    // frame parser would otherwise take its recording branch for the first time just as the
    // window opens (most likely dropping its optimised code), delaying the window's first events.
    fleet.recordLatency = true;
    const t0 = performance.now();
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * ratePerSec);
      while (published < due) {
        const user = personal ? published % streams : undefined;
        published++;
        target.publish(eventData(), user).catch((error) => {
          failure = error;
        });
      }
    }, 2);
    try {
      await sleep(warmupMs);
      fleet.latencies.length = 0;
      const meter = cpuMeter(target.proc.pid);
      await sleep(durationMs);
      const cpu = meter();
      fleet.recordLatency = false;
      if (failure !== undefined) throw failure;
      checkFleet(fleet);
      return {
        ...latencyFigures(fleet.latencies),
        deliveriesPerSec: fleet.latencies.length / cpu.seconds,
        serverCpu: cpu.serverCpu,
        loadgenCpu: cpu.loadgenCpu,
      };
    } finally {
      clearInterval(timer);
    }
  });
}

/** 3. Idle streams with heartbeats: RSS growth per stream (after a full GC), server CPU while idle. */
export async function idle(target, { streams, settleMs, durationMs }) {
  const settledRss = async () => {
    await sleep(settleMs);
    process.kill(target.proc.pid, "SIGWINCH"); // a full GC (bench/lib/gc-on-signal.mjs)
    await sleep(settleMs);
    return rssBytes(target.proc.pid);
  };
  const rss0 = await settledRss();
  // After the streams open, the server collects twice: `withStreams`' settle, then here. The
  // first collection is not redundant: measured without it, the gateway's RSS per stream read
  // 14.2 KB instead of 12.2 (the naive server's 12.2 either way) — part of what the burst
  // freed is only returned by the next cycle (docs/bench.md, item 25).
  return withStreams(target, streams, async (fleet) => {
    const rss1 = await settledRss();
    const meter = cpuMeter(target.proc.pid);
    await sleep(durationMs);
    const cpu = meter();
    checkFleet(fleet);
    return {
      rssPerStreamKB: (rss1 - rss0) / streams / 1024,
      rssMB: rss1 / 1024 / 1024,
      idleCpu: cpu.serverCpu,
      loadgenCpu: cpu.loadgenCpu,
    };
  });
}

/**
 * 4. Catch-up: `streams` clients resume from the same position `events` behind the head.
 * `source: "buffer"` keeps each user's topics alive while the events are published (a first
 * stream per user), so the hub's replay buffers serve the resume; `source: "bus"` publishes
 * with nobody attached, so the bus's own history (in-process, or JetStream) serves it.
 */
export async function resume(target, { streams, events, source, timeoutMs = 60_000 }) {
  const holders = new Fleet();
  const resumers = new Fleet();
  try {
    if (source === "buffer") {
      await holders.open(streams, { kind: "sse", port: target.port, request: target.streamRequest });
    }
    const marker = await target.publish(eventData());
    let published = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (published < events) {
          published++;
          await target.publish(eventData());
        }
      }),
    );
    if (source === "buffer") {
      while (holders.events < streams * (events + 1)) await sleep(20);
    }
    const meter = cpuMeter(target.proc.pid);
    const t0 = performance.now();
    let doneAt = 0;
    const finished = new Promise((resolve) => {
      resumers.onEvents = () => {
        if (resumers.events >= streams * events && doneAt === 0) {
          doneAt = performance.now();
          resolve();
        }
      };
    });
    await resumers.open(streams, {
      kind: "sse",
      port: target.port,
      request: (i) => {
        const base = target.streamRequest(i);
        return { path: base.path, headers: { ...base.headers, "last-event-id": marker.id } };
      },
    });
    await Promise.race([
      finished,
      sleep(timeoutMs).then(() => {
        throw new Error(`resume: ${resumers.events} of ${streams * events} events after ${timeoutMs} ms`);
      }),
    ]);
    const cpu = meter();
    checkFleet(resumers);
    const perStream = resumers.perStream;
    if (perStream.some((n) => n !== events)) throw new Error(`resume: per-stream counts ${perStream.join(",")}`);
    return {
      eventsPerSec: (streams * events) / ((doneAt - t0) / 1000),
      eventsPerCpuSec: (streams * events) / (cpu.serverCpu * cpu.seconds),
      serverCpu: cpu.serverCpu,
      loadgenCpu: cpu.loadgenCpu,
    };
  } finally {
    holders.close();
    resumers.close();
  }
}

/** Starts the stream target of a resume variant: the gateway, with NATS for `jetstream`. */
export async function startResumeTarget(variant, eventsPerResume) {
  const env = { REPLAY_BUFFER_SIZE: String(eventsPerResume + 100) };
  if (variant === "jetstream") return STREAM_TARGETS["gateway-nats"]({ env });
  return startGateway({ env });
}

/** 5. The proxy scenario's targets: the upstream direct, a bare @fastify/http-proxy, the gateway. */
export async function startProxyTarget(name) {
  const upstreamPort = await freePort();
  const upstream = await startProcess({
    name: "upstream",
    command: process.execPath,
    args: [new URL("../servers/upstream.mjs", import.meta.url).pathname],
    core: SERVER_CORE,
    env: { PORT: String(upstreamPort) },
    ready: async () => (await httpJson(upstreamPort, "GET", "/items/1", { timeoutMs: 2000 })).status === 200,
  });
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  try {
    if (name === "direct") return { port: upstreamPort, path: "/items/1", proc: upstream, stop: () => upstream.stop() };
    const gatewayOrProxy =
      name === "gateway"
        ? await startGateway({ env: { UPSTREAM_URL: upstreamUrl } })
        : await startFastifyProxy(upstreamUrl);
    const port = gatewayOrProxy.port;
    const stop = async () => {
      await gatewayOrProxy.stop();
      await upstream.stop();
    };
    const check = await httpJson(port, "GET", "/api/items/1", {
      headers: { authorization: `Bearer ${await accessToken("u0")}` },
    });
    if (check.status !== 200 || check.json?.name !== "item") {
      await stop();
      if (name === "gateway") return { unavailable: `not available in this build (/api/* answers ${check.status})` };
      throw new Error(`${name}: /api/items/1 answered ${check.status}`);
    }
    return { port, path: "/api/items/1", proc: gatewayOrProxy.proc ?? gatewayOrProxy, stop };
  } catch (error) {
    await upstream.stop();
    throw error;
  }
}

async function startFastifyProxy(upstreamUrl) {
  const port = await freePort();
  const proc = await startProcess({
    name: "fastify-http-proxy",
    command: process.execPath,
    args: [new URL("../servers/fastify-proxy.mjs", import.meta.url).pathname],
    core: SERVER_CORE,
    env: { PORT: String(port), UPSTREAM_URL: upstreamUrl },
    ready: async () => (await httpJson(port, "GET", "/api/items/1", { timeoutMs: 2000 })).status === 200,
  });
  return Object.assign(proc, { port });
}

/** 5. Small JSON GETs, closed loop over keep-alive connections. */
export async function proxy(target, { connections, warmupMs, durationMs }) {
  const headers = { authorization: `Bearer ${await accessToken("u0")}` };
  const meter = cpuMeter(target.proc.pid);
  const result = await getLoad(target.port, target.path, headers, { connections, warmupMs, durationMs });
  const cpu = meter();
  if (result.errors.length > 0) throw new Error(`${result.errors.length} errors, first: ${result.errors[0]}`);
  return {
    requestsPerSec: result.count / result.seconds,
    p50Ms: quantile(result.latencies, 0.5),
    p99Ms: quantile(result.latencies, 0.99),
    serverCpu: cpu.serverCpu,
    loadgenCpu: cpu.loadgenCpu,
  };
}

export { TENANT };
