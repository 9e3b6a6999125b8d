import { connect as natsConnect } from "@nats-io/transport-node";
import { getLoad, httpJson } from "./http.mjs";
import { cpuMeter, cpuSeconds, freePort, rssBytes, startProcess } from "./proc.mjs";
import { quantile } from "./stats.mjs";
import { Fleet } from "./streams.mjs";
import { accessToken, JWT_SECRET, SERVER_CORE, STREAM_TARGETS, startGateway, TENANT, topicBearer } from "./targets.mjs";
import { seededRandom } from "./topics.mjs";

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

async function withStreams(target, streams, fn, request = target.streamRequest) {
  const fleet = new Fleet({ marker: target.marker, attachMarker: target.attachMarker });
  try {
    await fleet.open(streams, { kind: target.kind, port: target.port, request });
    await settle(target);
    return await fn(fleet);
  } finally {
    fleet.close();
  }
}

function checkFleet(fleet) {
  if (fleet.errors.length > 0) throw new Error(`${fleet.errors.length} stream errors, first: ${fleet.errors[0]}`);
}

/**
 * 1. Broadcasts at saturation: a closed loop keeps `window` events per stream in flight. With
 * `topicMap` (bench/lib/topics.mjs) every stream subscribes to its topics and each event goes to
 * a topic drawn with a seeded PRNG; the loop then keeps `window × streams` deliveries in flight
 * (a publish owes as many deliveries as its topic has holders), the same bound as broadcasts.
 */
export async function fanout(target, { streams, warmupMs, durationMs, window = 64, topicMap, publishSeed = 1 }) {
  const request =
    topicMap === undefined ? target.streamRequest : (i) => target.topicStreamRequest(i, topicMap.streams[i]);
  const nextTopic =
    topicMap === undefined
      ? undefined
      : (
          (random) => () =>
            topicMap.names[Math.floor(random() * topicMap.names.length)]
        )(seededRandom(publishSeed));
  const dataOf = target.eventData ?? eventData;
  return withStreams(
    target,
    streams,
    async (fleet) => {
      /** Deliveries the publishes so far owe (each broadcast: one per stream). */
      let owed = 0;
      let stopped = false;
      let inFlight = 0;
      let failure;
      const pump = () => {
        while (!stopped && failure === undefined && inFlight < 16 && owed - fleet.events < window * streams) {
          const topic = nextTopic?.();
          owed += topic === undefined ? streams : topicMap.holders.get(topic);
          inFlight++;
          target.publish(dataOf(), undefined, topic).then(
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
      stopped = true;
      if (failure !== undefined) throw failure;
      checkFleet(fleet);
      return {
        eventsPerSec: delivered / cpu.seconds,
        // The machine is shared: what the server delivers per second of CPU it actually got.
        eventsPerCpuSec: delivered / (cpu.serverCpu * cpu.seconds),
        serverCpu: cpu.serverCpu,
        loadgenCpu: cpu.loadgenCpu,
      };
    },
    request,
  );
}

/**
 * 1a. Two instances on one NATS (`startTwoGatewaysOnNats`): A's streams take a backend's
 * broadcasts at full fan-out (scenario 1's loop), B holds `otherStreams` streams of another
 * tenant. Each instance's CPU-seconds over the whole loop: B's is what an instance pays for
 * events none of its clients follow. B's streams must receive nothing.
 */
export async function twoInstances(target, { streams, otherStreams, warmupMs, durationMs }) {
  const other = new Fleet({ marker: target.marker, attachMarker: target.attachMarker });
  try {
    await other.open(otherStreams, { kind: "sse", port: target.other.port, request: target.otherStreamRequest });
    const a0 = cpuSeconds(target.proc.pid);
    const b0 = cpuSeconds(target.other.proc.pid);
    const figures = await fanout(target, { streams, warmupMs, durationMs });
    const aCpuSeconds = cpuSeconds(target.proc.pid) - a0;
    const bCpuSeconds = cpuSeconds(target.other.proc.pid) - b0;
    checkFleet(other);
    if (other.events > 0) throw new Error(`B's streams received ${other.events} events of another tenant`);
    return { eventsPerSec: figures.eventsPerSec, aCpuSeconds, bCpuSeconds, bOverA: bCpuSeconds / aCpuSeconds };
  } finally {
    other.close();
  }
}

/**
 * 1b. Publish calls alone: a closed loop of `inFlight` concurrent `POST /events/publish` calls
 * (tenant broadcasts by an admin, no stream attached), of the target's event type; calls/s,
 * calls per server CPU-second and each call's latency.
 */
export async function publishLoad(target, { warmupMs, durationMs, inFlight = 16 }) {
  const dataOf = target.eventData ?? eventData;
  let measuring = false;
  let stopped = false;
  let failure;
  let count = 0;
  const latencies = [];
  const worker = async () => {
    while (!stopped && failure === undefined) {
      const t0 = performance.now();
      try {
        await target.publish(dataOf());
      } catch (error) {
        failure = error;
        return;
      }
      if (measuring) {
        count++;
        latencies.push(performance.now() - t0);
      }
    }
  };
  const workers = Array.from({ length: inFlight }, worker);
  await sleep(warmupMs);
  measuring = true;
  const meter = cpuMeter(target.proc.pid);
  await sleep(durationMs);
  const cpu = meter();
  measuring = false;
  stopped = true;
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  return {
    publishesPerSec: count / cpu.seconds,
    publishesPerCpuSec: count / (cpu.serverCpu * cpu.seconds),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    serverCpu: cpu.serverCpu,
    loadgenCpu: cpu.loadgenCpu,
  };
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

/**
 * 6. Presence on the NATS engine. Join/leave: `users` users each open one stream on one of
 * `topics` topics (user i on topic i mod `topics`, `?presence=1`), then all close; the NATS
 * messages of each phase are counted two ways: on the control subject by a subscriber of our own
 * (the presence changes, and separately the periodic refreshes that fell in the window), and in
 * nats-server's `/varz` (`in_msgs`/`out_msgs`: everything the server routed, JetStream's own
 * traffic and our subscriber's copies included). A phase ends when every topic's
 * `presence.list` shows it done and the control subject has been quiet for 300 ms. List: `listUsers`
 * users on one topic, then `presence.list` for it in a closed loop on one keep-alive connection.
 */
export async function presence(target, { users, topics, listUsers, warmupMs, durationMs }) {
  const controlSubject = `circl-bff.control.${target.natsStream ?? "EVENTS"}`;
  const nc = await natsConnect({ servers: target.nats.url, name: "bench-presence-counter" });
  const control = { changes: 0, refreshes: 0, lastAt: performance.now() };
  const sub = nc.subscribe(controlSubject, {
    callback: (_error, msg) => {
      control.lastAt = performance.now();
      let refresh = false;
      try {
        refresh = msg.json().refresh === true;
      } catch {}
      if (refresh) control.refreshes++;
      else control.changes++;
    },
  });
  await nc.flush();
  const varz = async () => (await httpJson(target.nats.monitorPort, "GET", "/varz")).json;
  const headers = topicBearer(0);
  const listOf = async (topic) => {
    const res = await httpJson(target.port, "GET", listPath(topic), { headers });
    if (res.status !== 200) throw new Error(`presence.list: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    return res.json.result.data.users;
  };
  const names = Array.from({ length: topics }, (_, i) => `bench.presence-${i}`);
  const expected = (i) => Math.floor(users / topics) + (i < users % topics ? 1 : 0);
  /** Waits until `done()` holds and the control subject has been quiet for 300 ms. */
  const until = async (done, what) => {
    const deadline = performance.now() + 30_000;
    while (!(await done()) || performance.now() - control.lastAt < 300) {
      if (performance.now() > deadline) throw new Error(`presence: ${what} not complete after 30 s`);
      await sleep(50);
    }
  };
  const phase = async (action, done, what) => {
    await until(async () => true, "quiet");
    const c0 = { ...control };
    const v0 = await varz();
    await action();
    await until(done, what);
    const v1 = await varz();
    return {
      changes: control.changes - c0.changes,
      refreshes: control.refreshes - c0.refreshes,
      inMsgs: v1.in_msgs - v0.in_msgs,
      outMsgs: v1.out_msgs - v0.out_msgs,
    };
  };
  const fleet = new Fleet();
  const listFleet = new Fleet();
  try {
    const join = await phase(
      () =>
        fleet.open(users, {
          kind: "sse",
          port: target.port,
          request: (i) => target.topicStreamRequest(i, [names[i % topics]], true),
        }),
      async () => (await Promise.all(names.map(listOf))).every((list, i) => list.length === expected(i)),
      "joins",
    );
    checkFleet(fleet);
    const leave = await phase(
      async () => fleet.close(),
      async () => (await Promise.all(names.map(listOf))).every((list) => list.length === 0),
      "leaves",
    );
    // The list: `listUsers` users on one topic (no presence frames: they would be listUsers² frames).
    const hot = "bench.presence-hot";
    await listFleet.open(listUsers, {
      kind: "sse",
      port: target.port,
      request: (i) => target.topicStreamRequest(i, [hot]),
    });
    await until(async () => (await listOf(hot)).length === listUsers, "list users");
    const meter = cpuMeter(target.proc.pid);
    const load = await getLoad(target.port, listPath(hot), headers, { connections: 1, warmupMs, durationMs });
    const cpu = meter();
    if (load.errors.length > 0)
      throw new Error(`presence.list: ${load.errors.length} errors, first: ${load.errors[0]}`);
    checkFleet(listFleet);
    return {
      changeMsgsPerJoin: join.changes / users,
      changeMsgsPerLeave: leave.changes / users,
      refreshMsgs: join.refreshes + leave.refreshes,
      natsInMsgsPerJoinLeave: (join.inMsgs + leave.inMsgs) / (2 * users),
      natsOutMsgsPerJoinLeave: (join.outMsgs + leave.outMsgs) / (2 * users),
      listP50Ms: quantile(load.latencies, 0.5),
      listP99Ms: quantile(load.latencies, 0.99),
      listPerSec: load.count / load.seconds,
      serverCpu: cpu.serverCpu,
      loadgenCpu: cpu.loadgenCpu,
    };
  } finally {
    fleet.close();
    listFleet.close();
    sub.unsubscribe();
    await nc.close();
  }
}

const listPath = (topic) => `/trpc/presence.list?input=${encodeURIComponent(JSON.stringify({ topic }))}`;

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
        : await startFastifyProxy(upstreamUrl, name === "fastify-http-proxy-auth");
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

/** @fastify/http-proxy, bare or (`auth`) with JWT verification and the identity headers. */
async function startFastifyProxy(upstreamUrl, auth) {
  const port = await freePort();
  const bearer = { authorization: `Bearer ${await accessToken("u0")}` };
  const proc = await startProcess({
    name: auth ? "fastify-http-proxy-auth" : "fastify-http-proxy",
    command: process.execPath,
    args: [new URL("../servers/fastify-proxy.mjs", import.meta.url).pathname],
    core: SERVER_CORE,
    env: { PORT: String(port), UPSTREAM_URL: upstreamUrl, PROXY_AUTH: auth ? "1" : "0", JWT_SECRET },
    ready: async () =>
      (await httpJson(port, "GET", "/api/items/1", { timeoutMs: 2000, headers: bearer })).status === 200,
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
