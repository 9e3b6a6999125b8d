import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { request } from "./helpers/http.js";
import { parseSamples, type Sample } from "./helpers/prometheus-text.js";

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** The value of `name{labels}` in `samples`, or undefined when the series is absent. */
function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value;
}

/** Every series a fresh gateway must export at 0 before anything happened. */
const AT_ZERO: [string, Record<string, string>][] = [
  ...["raw", "trpc"].flatMap((transport): [string, Record<string, string>][] => [
    ["sse_connections_active", { transport }],
    ["sse_messages_sent_total", { transport }],
    ["sse_slow_consumer_disconnects_total", { transport }],
  ]),
  ...["unknown-id", "epoch-changed", "position-expired"].map((reason): [string, Record<string, string>] => [
    "stream_resets_total",
    { reason },
  ]),
  ["replay_events_total", { source: "buffer" }],
  ["replay_events_total", { source: "bus" }],
  ...["published", "duplicate", "queued"].map((status): [string, Record<string, string>] => [
    "events_published_total",
    { status },
  ]),
  ...["ip", "token-ip", "user", "stream"].map((scope): [string, Record<string, string>] => [
    "rate_limited_total",
    { scope },
  ]),
  ...["subject", "size", "json", "schema", "unknown-type"].map((reason): [string, Record<string, string>] => [
    "nats_messages_invalid_total",
    { reason },
  ]),
  ...["missing", "malformed", "expired", "signature", "revoked"].map((reason): [string, Record<string, string>] => [
    "auth_failures_total",
    { reason },
  ]),
  ["nats_subscriptions_active", {}],
  ["nats_gap_repairs_total", {}],
  ["nats_slow_consumer_events_total", {}],
  ["nats_reconnects_total", {}],
  ["nats_messages_received_total", {}],
  ["publish_queue_depth", {}],
  ["publish_dlq_size", {}],
  ["events_unframable_total", {}],
  ["http_sockets_dropped_total", {}],
];

describe("metrics on a fresh gateway's first scrape", () => {
  it("exports every series with known labels at 0 before its first use", async () => {
    gw = await startGateway();
    const res = await request(`${gw.url}/metrics`);
    expect(res.status).toBe(200);
    const samples = parseSamples(res.body);
    const missing = AT_ZERO.filter(([name, labels]) => sampleValue(samples, name, labels) !== 0).map(
      ([name, labels]) => `${name}${JSON.stringify(labels)} = ${sampleValue(samples, name, labels)}`,
    );
    expect(missing).toEqual([]);
  });

  it("counts from those series once streams open (the zero series is the one that moves)", async () => {
    gw = await startGateway();
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    const controller = new AbortController();
    const stream = await fetch(`${gw.url}/events/stream`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    const samples = parseSamples((await request(`${gw.url}/metrics`)).body);
    expect(sampleValue(samples, "sse_connections_active", { transport: "raw" })).toBe(1);
    expect(sampleValue(samples, "sse_connections_active", { transport: "trpc" })).toBe(0);
    expect(samples.filter((s) => s.name === "sse_connections_active")).toHaveLength(2);
    controller.abort();
  });
});
