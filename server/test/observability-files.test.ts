import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { request } from "./helpers/http.js";
import { seriesNames } from "./helpers/prometheus-text.js";

const DASHBOARD = new URL("../../deploy/grafana-dashboard.json", import.meta.url);
const ALERTS = new URL("../../deploy/prometheus-alerts.yaml", import.meta.url);

/** PromQL words that look like names but are not series (aggregation modifiers, operators). */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

/**
 * The series names a PromQL expression selects: strings, label matchers, range and subquery
 * brackets and grouping label lists removed, then every remaining identifier that is not a
 * function call, a keyword, or part of a number or duration (`1e3`, `5m` after `offset`).
 */
export function promqlSeries(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const at = match.index ?? 0;
    const before = stripped[at - 1] ?? " ";
    if (/[0-9.$]/.test(before)) continue;
    if (
      stripped
        .slice(at + match[0].length)
        .trimStart()
        .startsWith("(")
    )
      continue;
    if (KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

type Panel = { id: number; type: string; title: string; targets?: { expr: string }[]; panels?: Panel[] };
type Dashboard = {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: string | { query: string } }[] };
};
type AlertRule = {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string };
};

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
const alerts = parse(readFileSync(ALERTS, "utf8")) as { groups: { name: string; rules: AlertRule[] }[] };
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const dashboardExprs = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const alertRules = alerts.groups.flatMap((group) => group.rules);

/** The series names the dashboard's queries and its variables' `label_values(metric, label)` use. */
function dashboardSeries(): string[] {
  const fromVariables = dashboard.templating.list.flatMap((variable) => {
    const query = typeof variable.query === "string" ? variable.query : variable.query.query;
    const match = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,/.exec(query);
    return match === null ? [] : [match[1] as string];
  });
  return [...dashboardExprs.flatMap(promqlSeries), ...fromVariables];
}

let gw: Gateway;
let exported: Set<string>;
beforeAll(async () => {
  gw = await startGateway();
  const res = await request(`${gw.url}/metrics`);
  expect(res.status).toBe(200);
  exported = seriesNames(res.body);
});
afterAll(async () => {
  await gw?.close();
});

describe("the PromQL series extractor", () => {
  it("finds the series of an expression and nothing else", () => {
    expect(
      promqlSeries(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!~"/api/.*", instance=~"$instance"}[$__rate_interval]))) > 0.5',
      ),
    ).toEqual(["http_request_duration_seconds_bucket"]);
    expect(
      promqlSeries("sum(rate(a_total[5m] offset 1h)) / on (instance) group_left max(b_gauge) > 1e3 and bool c"),
    ).toEqual(["a_total", "b_gauge", "c"]);
  });
});

describe("deploy/grafana-dashboard.json and deploy/prometheus-alerts.yaml", () => {
  it("the dashboard uses only series a running gateway exports", () => {
    const used = dashboardSeries();
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((name) => !exported.has(name))).toEqual([]);
  });

  it("the alert rules use only series a running gateway exports", () => {
    const used = alertRules.flatMap((rule) => promqlSeries(rule.expr));
    expect(used.length).toBeGreaterThanOrEqual(alertRules.length);
    expect([...new Set(used)].filter((name) => !exported.has(name))).toEqual([]);
  });

  it("a name the gateway does not export is caught", () => {
    expect(exported.has("sse_connections_active")).toBe(true);
    expect(exported.has("http_request_duration_seconds_bucket")).toBe(true);
    expect(promqlSeries("sum(sse_connections_actve)").filter((name) => !exported.has(name))).toEqual([
      "sse_connections_actve",
    ]);
  });

  it("the dashboard covers streams, deliveries, resets, slow consumers, publishing, NATS and HTTP p99", () => {
    const used = new Set(dashboardSeries());
    for (const name of [
      "sse_connections_active",
      "sse_messages_sent_total",
      "stream_resets_total",
      "sse_slow_consumer_disconnects_total",
      "nats_slow_consumer_events_total",
      "publish_queue_depth",
      "publish_dlq_size",
      "nats_reconnects_total",
      "nats_gap_repairs_total",
      "nats_subscriptions_active",
      "http_request_duration_seconds_bucket",
    ]) {
      expect(used, name).toContain(name);
    }
    expect(dashboardExprs.some((expr) => expr.startsWith("histogram_quantile(0.99,"))).toBe(true);
    const ids = allPanels(dashboard.panels).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("every alert has a name, a severity and a summary, and the rules cover the publish path and NATS", () => {
    const names = alertRules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of alertRules) {
      expect(rule.alert).toMatch(/^CirclBff[A-Za-z]+$/);
      expect(["critical", "warning", "info"]).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(10);
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smh]$/);
    }
    const used = new Set(alertRules.flatMap((rule) => promqlSeries(rule.expr)));
    for (const name of [
      "publish_queue_depth",
      "publish_dlq_size",
      "nats_reconnects_total",
      "nats_gap_repairs_total",
      "nats_slow_consumer_events_total",
      "sse_slow_consumer_disconnects_total",
      "stream_resets_total",
      "http_request_duration_seconds_bucket",
    ]) {
      expect(used, name).toContain(name);
    }
  });
});
