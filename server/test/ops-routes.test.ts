import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { request } from "./helpers/http.js";

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

describe("health, readiness and metrics", () => {
  it("answers /health and /ready without credentials", async () => {
    gw = await startGateway();
    expect(JSON.parse((await request(`${gw.url}/health`)).body)).toEqual({ status: "ok" });
    const ready = await request(`${gw.url}/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: "ready", bus: "memory", streams: 0 });
  });

  it("serves Prometheus metrics with the gateway's series and the process defaults", async () => {
    gw = await startGateway();
    await request(`${gw.url}/health`);
    const metrics = await request(`${gw.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    for (const name of [
      "sse_connections_active",
      "sse_messages_sent_total",
      "http_request_duration_seconds",
      "auth_failures_total",
      "stream_resets_total",
      "replay_events_total",
      "rate_limited_total",
      "process_cpu_user_seconds_total",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(metrics.body).toContain(`# TYPE ${name} `);
    }
    expect(metrics.body).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} 1/,
    );
  });

  it("requires the METRICS_TOKEN when one is set", async () => {
    gw = await startGateway({ METRICS_TOKEN: "scrape-secret-123" });
    expect((await request(`${gw.url}/metrics`)).status).toBe(401);
    expect((await request(`${gw.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const ok = await request(`${gw.url}/metrics`, { headers: { authorization: "Bearer scrape-secret-123" } });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("# TYPE sse_connections_active gauge");
  });
});
