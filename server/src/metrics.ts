import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { BUS_KINDS, type BusKind } from "./bus/event-bus.js";

/**
 * The label values each labelled series can take, where they are known in advance. Every one is
 * exported at 0 from the first scrape (Prometheus' instrumentation guidance): `rate()` and alerts
 * see a series start at 0 instead of appearing with its first event, and a dashboard shows 0, not
 * "no data". Open-ended labels (HTTP routes and status codes) appear with their first use.
 */
const KNOWN_LABELS = {
  transport: ["raw", "trpc"],
  resetReason: ["unknown-id", "epoch-changed", "position-expired"],
  /** `bus` or `jetstream` (the bus's replaySource) is added by `initBusSeries`. */
  replaySource: ["buffer"],
  publishStatus: ["published", "duplicate", "queued"],
  rateLimitScope: ["ip", "token-ip", "user", "stream"],
  invalidReason: ["subject", "size", "json", "schema", "unknown-type"],
  /** The fixed reasons of auth/auth-error.ts and auth/authenticator.ts (claim_* ones vary). */
  authReason: [
    "missing",
    "malformed_header",
    "malformed",
    "expired",
    "signature",
    "algorithm",
    "unknown_key",
    "jwks_unavailable",
    "revoked",
    "access_token_in_url",
    "stream_token_as_access_token",
  ],
} as const;

/** The gateway's Prometheus metrics, one registry per app so tests can run several apps. */
export function createMetrics() {
  const registry = new Registry();
  // Counted per delivered frame on the fan-out path: a plain increment there, handed to
  // prom-client (label lookup, validation) only when /metrics is read.
  const framesSent = { raw: 0, trpc: 0 };
  const framesReported = { raw: 0, trpc: 0 };
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const metrics = {
    registry,
    sseConnectionsActive: new Gauge({
      name: "sse_connections_active",
      help: "Open event streams",
      labelNames: ["transport"] as const,
      registers,
    }),
    framesSent,
    sseMessagesSent: new Counter({
      name: "sse_messages_sent_total",
      help: "Event frames handed to streams (events, resets)",
      labelNames: ["transport"] as const,
      registers,
      collect() {
        for (const transport of ["raw", "trpc"] as const) {
          const delta = framesSent[transport] - framesReported[transport];
          framesReported[transport] = framesSent[transport];
          if (delta > 0) this.inc({ transport }, delta);
        }
      },
    }),
    sseSlowConsumerDisconnects: new Counter({
      name: "sse_slow_consumer_disconnects_total",
      help: "Streams closed because their unsent bytes exceeded SSE_MAX_PENDING_BYTES",
      labelNames: ["transport"] as const,
      registers,
    }),
    socketsDropped: new Counter({
      name: "http_sockets_dropped_total",
      help: "Client connections closed at once because MAX_SOCKETS were open",
      registers,
    }),
    eventsUnframable: new Counter({
      name: "events_unframable_total",
      help: "Events skipped because they could not be serialised for streams (logged with their sequence)",
      registers,
    }),
    streamResets: new Counter({
      name: "stream_resets_total",
      help: "Resume requests answered with a reset",
      labelNames: ["reason"] as const,
      registers,
    }),
    replayEvents: new Counter({
      name: "replay_events_total",
      help: "Events sent from history on resume",
      labelNames: ["source"] as const,
      registers,
    }),
    eventsPublished: new Counter({
      name: "events_published_total",
      help: "Publish calls by outcome",
      labelNames: ["status"] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: "rate_limited_total",
      help: "Requests refused with 429 by budget",
      labelNames: ["scope"] as const,
      registers,
    }),
    natsMessagesReceived: new Counter({
      name: "nats_messages_received_total",
      help: "Event messages received from NATS for live delivery (re-published, or read back to repair a loss), valid or not",
      registers,
    }),
    natsMessagesInvalid: new Counter({
      name: "nats_messages_invalid_total",
      help: "Received messages skipped as invalid, by reason (subject, size, json, schema, unknown-type)",
      labelNames: ["reason"] as const,
      registers,
    }),
    natsSubscriptionsActive: new Gauge({
      name: "nats_subscriptions_active",
      help: "Stream keys this instance follows on NATS (one core subscription each)",
      registers,
    }),
    natsGapRepairs: new Counter({
      name: "nats_gap_repairs_total",
      help: "Live messages found lost on core NATS and read back from JetStream before delivering on",
      registers,
    }),
    natsSlowConsumerEvents: new Counter({
      name: "nats_slow_consumer_events_total",
      help: "Slow-consumer reports on the NATS connection (followed by a read-back from JetStream)",
      registers,
    }),
    natsReconnects: new Counter({
      name: "nats_reconnects_total",
      help: "Reconnections to NATS after a lost connection",
      registers,
    }),
    publishQueueDepth: new Gauge({
      name: "publish_queue_depth",
      help: "Publishes waiting for NATS to be reachable again",
      registers,
    }),
    publishDlqSize: new Gauge({
      name: "publish_dlq_size",
      help: "Publishes that failed after all attempts (dead letters)",
      registers,
    }),
    authFailures: new Counter({
      name: "auth_failures_total",
      help: "Rejected credentials by reason",
      labelNames: ["reason"] as const,
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration (streams: until the response headers are sent)",
      labelNames: ["method", "route", "status_code"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  };
  for (const transport of KNOWN_LABELS.transport) {
    metrics.sseConnectionsActive.set({ transport }, 0);
    metrics.sseMessagesSent.inc({ transport }, 0);
    metrics.sseSlowConsumerDisconnects.inc({ transport }, 0);
  }
  for (const reason of KNOWN_LABELS.resetReason) metrics.streamResets.inc({ reason }, 0);
  for (const source of KNOWN_LABELS.replaySource) metrics.replayEvents.inc({ source }, 0);
  for (const status of KNOWN_LABELS.publishStatus) metrics.eventsPublished.inc({ status }, 0);
  for (const scope of KNOWN_LABELS.rateLimitScope) metrics.rateLimited.inc({ scope }, 0);
  for (const reason of KNOWN_LABELS.invalidReason) metrics.natsMessagesInvalid.inc({ reason }, 0);
  for (const reason of KNOWN_LABELS.authReason) metrics.authFailures.inc({ reason }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The series that depend on the bus the app runs on, at 0 from the first scrape too. */
export function initBusSeries(metrics: Metrics, bus: { kind: BusKind }): void {
  metrics.replayEvents.inc({ source: BUS_KINDS[bus.kind].replaySource }, 0);
}

/**
 * Records request durations with the histogram's labelled children made once per (method, route,
 * status): prom-client's `labels()` builds a label object, validates it and makes two closures
 * on every call. (Its child's `observe` still hashes the labels each time, ~2 µs per request in
 * the proxy's profile.) Routes are the registered patterns, so the set stays small.
 */
export function durationObserver(metrics: Metrics) {
  const children = new Map<string, ReturnType<Metrics["httpRequestDuration"]["labels"]>>();
  return (method: string, route: string, statusCode: number, elapsedMs: number): void => {
    const id = `${method} ${statusCode} ${route}`;
    let child = children.get(id);
    if (child === undefined) {
      child = metrics.httpRequestDuration.labels(method, route, String(statusCode));
      children.set(id, child);
    }
    child.observe(elapsedMs / 1000);
  };
}
