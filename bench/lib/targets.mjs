import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { broadcastSubject, personalSubject } from "@circl-bff/shared";
import { jetstream } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { SignJWT } from "jose";
import { httpJson } from "./http.mjs";
import { freePort, startProcess } from "./proc.mjs";

export const SERVER_CORE = 0;
export const JWT_SECRET = "bench-jwt-secret-0123456789abcdef-0123456789";
export const STREAM_TOKEN_SECRET = "bench-stream-secret-0123456789abcdef-012345";
export const TENANT = "bench";
const root = new URL("../../", import.meta.url).pathname;
/** Node flags every server gets (gateway and comparators alike). */
const SERVER_NODE_ARGS = [
  "--expose-gc",
  "--import",
  join(root, "bench/lib/gc-on-signal.mjs"),
  ...(process.env.BENCH_ALL_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
];
const secret = new TextEncoder().encode(JWT_SECRET);
const tokens = new Map();

/** An HS256 access token as an identity provider would issue it (cached per user). */
export async function accessToken(sub, roles = []) {
  const cached = tokens.get(sub);
  if (cached !== undefined) return cached;
  const token = await new SignJWT({ tenantId: TENANT, roles })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("6h")
    .sign(secret);
  tokens.set(sub, token);
  return token;
}

export async function mintUsers(count) {
  for (let i = 0; i < count; i++) await accessToken(`u${i}`);
  await accessToken("publisher", ["admin"]);
}

/**
 * The same user's token with a topic grant of every topic (the `topics` claim `["*"]`, contract
 * section 11): the topic and presence scenarios' streams. A separate cache, so the other
 * scenarios' tokens (and request sizes) stay as they were.
 */
export async function topicToken(sub) {
  const key = `${sub}#topics`;
  const cached = tokens.get(key);
  if (cached !== undefined) return cached;
  const token = await new SignJWT({ tenantId: TENANT, roles: [], topics: ["*"] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("6h")
    .sign(secret);
  tokens.set(key, token);
  return token;
}

export async function mintTopicUsers(count) {
  for (let i = 0; i < count; i++) await topicToken(`u${i}`);
}

const userToken = (i) => tokens.get(`u${i}`);
const bearer = (i) => ({ authorization: `Bearer ${userToken(i)}` });
/** Minted by `mintTopicUsers` before a topic scenario runs. */
export const topicBearer = (i) => ({ authorization: `Bearer ${tokens.get(`u${i}#topics`)}` });

async function probe(port, path) {
  const res = await httpJson(port, "GET", path, { timeoutMs: 2000 });
  return res.status === 200;
}

/** The ~200-byte benchmark data as a `demo.message` (catalog type, data `{text}`) carries it. */
const DEMO_TEXT = "x".repeat(188);
export const demoMessageData = () => ({ text: DEMO_TEXT });
/**
 * What a stream's frame must contain to count as an event (bench/lib/streams.mjs): the
 * benchmark's `"t":` publish time, or for `demo.message` (whose schema strips unknown keys) its
 * `"text":`.
 */
const DEMO_MARKER = '"text":';

/**
 * The gateway under test: `node server/dist/main.js` with the bench environment. It publishes
 * through `POST /events/publish` (what a plain HTTP client uses, like the comparators'
 * `/publish`), or through tRPC's `events.publish` with `publishVia: "trpc"`. With
 * `streamVia: "trpc"` its streams are tRPC's `events.stream` (`GET /trpc/events.stream`, what
 * `httpSubscriptionLink` requests) instead of the raw route. With
 * `eventType: "demo.message"` it publishes the catalog type (validated at the door) instead of
 * the untyped `bench`, with the same-sized data (`demoMessageData`).
 */
export async function startGateway({
  heartbeatMs = 15_000,
  env = {},
  publishVia = "raw",
  streamVia = "raw",
  eventType = "bench",
} = {}) {
  const demo = eventType === "demo.message";
  const port = await freePort();
  const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const proc = await startProcess({
    name: "gateway",
    // e.g. BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": the profile is written on a graceful exit.
    graceful: nodeArgs.length > 0,
    command: process.execPath,
    args: [...SERVER_NODE_ARGS, ...nodeArgs, join(root, "server/dist/main.js")],
    core: SERVER_CORE,
    env: {
      NODE_ENV: "development",
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      JWT_SECRET,
      STREAM_TOKEN_SECRET,
      MAX_CONNECTIONS_PER_USER: "100000",
      SSE_MAX_PENDING_BYTES: String(16 * 1024 * 1024),
      SSE_HEARTBEAT_MS: String(heartbeatMs),
      // Budgets sized for a load test (read once the hardening work adds rate limiting).
      RATE_LIMIT_MAX: "1000000000",
      RATE_LIMIT_IP_MAX: "1000000000",
      RATE_LIMIT_STREAM_MAX: "1000000000",
      ...env,
    },
    ready: () => probe(port, "/ready"),
  });
  const ready = (await httpJson(port, "GET", "/ready")).json;
  return {
    proc,
    port,
    kind: "sse",
    bus: ready?.bus,
    streamRequest:
      streamVia === "trpc"
        ? (i) => ({ path: "/trpc/events.stream", headers: bearer(i) })
        : (i) => ({ path: "/events/stream", headers: bearer(i) }),
    // tRPC's own `connected` event comes first; the stream is attached at the procedure's.
    attachMarker: streamVia === "trpc" ? '"type":"connected"' : undefined,
    topicStreamRequest: (i, topics, presence = false) => ({
      path: `/events/stream?topics=${topics.join(",")}${presence ? "&presence=1" : ""}`,
      headers: topicBearer(i),
    }),
    marker: demo ? DEMO_MARKER : undefined,
    eventData: demo ? demoMessageData : undefined,
    /** A broadcast, a personal event (`userIndex`) or, with `topic`, an event to that topic. */
    async publish(data, userIndex, topic) {
      const personal = userIndex !== undefined;
      const token = personal ? userToken(userIndex) : tokens.get("publisher");
      const to = topic !== undefined ? { topic } : personal ? "me" : "tenant";
      const res = await httpJson(port, "POST", publishVia === "trpc" ? "/trpc/events.publish" : "/events/publish", {
        body: { type: eventType, data, to },
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status !== 200) throw new Error(`publish: HTTP ${res.status} ${res.text.slice(0, 300)}`);
      return publishVia === "trpc" ? res.json.result.data : res.json;
    },
    stop: () => proc.stop(),
  };
}

/** A comparator from bench/servers/ with the shared `/stream` + `/publish` contract. */
export async function startComparator(file, { heartbeatMs = 15_000, kind = "sse", env = {} } = {}) {
  const port = await freePort();
  const proc = await startProcess({
    name: file,
    command: process.execPath,
    args: [...SERVER_NODE_ARGS, join(root, "bench/servers", file)],
    core: SERVER_CORE,
    env: { PORT: String(port), HEARTBEAT_MS: String(heartbeatMs), ...env },
    // Any HTTP answer means it accepts connections.
    ready: async () => (await httpJson(port, "GET", "/ready", { timeoutMs: 2000 })).status > 0,
  });
  return {
    proc,
    port,
    kind,
    // The same request headers as the gateway's streams (the comparators ignore the token).
    streamRequest:
      kind === "sio"
        ? (i) => ({ path: `/socket.io/?EIO=4&transport=websocket&user=u${i}`, headers: bearer(i) })
        : (i) => ({ path: `/stream?user=u${i}`, headers: bearer(i) }),
    // The naive server's topic map (bench/servers/naive.mjs); the gateway's token, so request sizes stay close.
    topicStreamRequest: (i, topics) => ({
      path: `/stream?user=u${i}&topics=${topics.join(",")}`,
      headers: topicBearer(i),
    }),
    async publish(data, userIndex, topic) {
      const res = await httpJson(port, "POST", "/publish", {
        body:
          topic !== undefined ? { data, topic } : userIndex === undefined ? { data } : { data, to: `u${userIndex}` },
      });
      if (res.status !== 200) throw new Error(`publish: HTTP ${res.status}`);
    },
    stop: () => proc.stop(),
  };
}

/**
 * A JetStream-enabled nats-server of our own, on the server core, in a temporary store; with
 * its monitoring endpoint (`-m`, for `/varz`) on `monitorPort`.
 */
export async function startNats() {
  const port = await freePort();
  const monitorPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bench-nats-"));
  const proc = await startProcess({
    name: "nats-server",
    command: "/usr/sbin/nats-server",
    args: ["-js", "-p", String(port), "-a", "127.0.0.1", "-m", String(monitorPort), "-sd", dir],
    core: SERVER_CORE,
    env: {},
    ready: () =>
      new Promise((resolve) => {
        const socket = connect({ port, host: "127.0.0.1" });
        socket.once("data", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      }),
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    monitorPort,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The gateway on its own nats-server, or `{ unavailable }` when this build ignores NATS_URL. */
export async function startGatewayOnNats(opts) {
  const nats = await startNats();
  try {
    const gateway = await startGateway({ ...opts, env: { NATS_URL: nats.url } });
    const stop = async () => {
      await gateway.stop();
      await nats.stop();
    };
    if (gateway.bus !== "nats") {
      await stop();
      return { unavailable: "not available in this build (the gateway ignores NATS_URL)" };
    }
    return { ...gateway, nats, stop };
  } catch (error) {
    await nats.stop();
    throw error;
  }
}

/**
 * The gateway on NATS with the events published the way a backend does (contract section 6):
 * by this process, as a JetStream client, to the tenant's or the user's subject, each publish
 * awaiting its JetStream ack. The gateway only delivers; no HTTP publish passes through it.
 */
async function startGatewayOnNatsWithBackend(opts) {
  const gateway = await startGatewayOnNats(opts);
  if (gateway.unavailable !== undefined) return gateway;
  const nc = await natsConnect({ servers: gateway.nats.url, name: "bench-backend" });
  const js = jetstream(nc);
  const body = (data) => JSON.stringify({ type: "bench", data });
  return {
    ...gateway,
    async publish(data, userIndex) {
      const subject = userIndex === undefined ? broadcastSubject(TENANT) : personalSubject(TENANT, `u${userIndex}`);
      const ack = await js.publish(subject, body(data));
      return { id: String(ack.seq) };
    },
    async stop() {
      await nc.close();
      await gateway.stop();
    },
  };
}

/** A token of another tenant than the benchmark's (`other`), for streams that must not see its events. */
async function otherTenantToken(sub) {
  return new SignJWT({ tenantId: "other", roles: [] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("6h")
    .sign(secret);
}

/**
 * Two gateways on one nats-server: A is the target (a backend publishes the benchmark tenant's
 * broadcasts to JetStream, A delivers them), B (`other`) serves streams of another tenant only.
 */
export async function startTwoGatewaysOnNats({ otherStreams, ...opts }) {
  const a = await startGatewayOnNatsWithBackend(opts);
  if (a.unavailable !== undefined) return a;
  try {
    const b = await startGateway({ ...opts, env: { NATS_URL: a.nats.url } });
    const others = [];
    for (let i = 0; i < otherStreams; i++) others.push(await otherTenantToken(`o${i}`));
    return {
      ...a,
      other: b,
      otherStreamRequest: (i) => ({ path: "/events/stream", headers: { authorization: `Bearer ${others[i]}` } }),
      async stop() {
        await b.stop();
        await a.stop();
      },
    };
  } catch (error) {
    await a.stop();
    throw error;
  }
}

/**
 * The stream targets by name. The NATS targets spawn their own nats-server and report
 * themselves unavailable when the gateway of this build ignores NATS_URL (its /ready says bus
 * "memory").
 */
export const STREAM_TARGETS = {
  gateway: (opts) => startGateway(opts),
  "gateway-demo.message": (opts) => startGateway({ ...opts, eventType: "demo.message" }),
  "gateway-trpc": (opts) => startGateway({ ...opts, publishVia: "trpc" }),
  "gateway-trpc-stream": (opts) => startGateway({ ...opts, streamVia: "trpc" }),
  "gateway-nats": startGatewayOnNats,
  "gateway-nats-backend": startGatewayOnNatsWithBackend,
  naive: (opts) => startComparator("naive.mjs", opts),
  "naive-envelope": (opts) => startComparator("naive.mjs", { ...opts, env: { NAIVE_ENVELOPE: "1" } }),
  "socket.io": (opts) => startComparator("socketio.mjs", { ...opts, kind: "sio" }),
  "better-sse": (opts) => startComparator("better-sse.mjs", opts),
};
