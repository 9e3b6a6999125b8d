import { randomBytes } from "node:crypto";
import { subjectForKey } from "@circl-bff/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayProcess } from "./helpers/gateway-process.js";
import { natsSuite } from "./helpers/nats-suite.js";
import { OtlpReceiver, type ReceivedSpan, SpanKind } from "./helpers/otlp-receiver.js";
import { RecordingUpstream } from "./helpers/recording-upstream.js";
import { accessToken } from "./helpers/tokens.js";

const suite = natsSuite();
let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await OtlpReceiver.start();
});
afterAll(async () => {
  await receiver?.close();
});

/** A gateway process exporting its traces to the test's receiver, as OTLP/HTTP JSON. */
async function tracedGateway(name: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const gw = await GatewayProcess.start({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    // Batches leave after 50 ms instead of 5 s, so the test waits for spans, not for a timer.
    OTEL_BSP_SCHEDULE_DELAY: "50",
    OTEL_RESOURCE_ATTRIBUTES: `test.instance=${name}`,
    ...env,
  });
  suite.closeAfter(() => gw.kill("SIGTERM"));
  return gw;
}

/** A caller's trace context (what an instrumented frontend sends): every span must join it. */
function callerContext(): { traceId: string; parentId: string; traceparent: string } {
  const traceId = randomBytes(16).toString("hex");
  const parentId = randomBytes(8).toString("hex");
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

async function publish(gw: GatewayProcess, token: string, traceparent: string, body: object): Promise<{ id: string }> {
  const res = await fetch(`${gw.url}/events/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", traceparent },
    body: JSON.stringify(body),
  });
  const result = (await res.json()) as { status: string; id: string };
  expect(res.status, JSON.stringify(result)).toBe(200);
  expect(result.status).toBe("published");
  return result;
}

/** The chain of parents from `span` up to the root, within the trace's spans (`span` first). */
function ancestry(spans: ReceivedSpan[], span: ReceivedSpan): ReceivedSpan[] {
  const chain = [span];
  for (;;) {
    const parent = spans.find((s) => s.spanId === chain.at(-1)?.parentSpanId);
    if (parent === undefined) return chain;
    chain.push(parent);
  }
}

/** The trace as a failure message shows it: one line per span, with its instance and parent. */
function traceDump(spans: ReceivedSpan[]): string {
  return spans
    .map((s) => `${s.name} [kind ${s.kind}, ${String(s.resource["test.instance"])}] ${s.spanId} <- ${s.parentSpanId}`)
    .join("\n");
}

const isPublish = (span: ReceivedSpan) => span.kind === SpanKind.PRODUCER && span.name.startsWith("publish ");
const isPublishRequest = (span: ReceivedSpan) =>
  span.kind === SpanKind.SERVER && span.attributes["http.route"] === "/events/publish";
const isDelivery = (span: ReceivedSpan) => span.kind === SpanKind.CONSUMER && span.name.startsWith("deliver ");

describe.skipIf(!suite.available)("OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT set)", () => {
  it("one publish on A is one trace: the HTTP call, the publish, and a delivery span on each instance (NATS)", async () => {
    const nats = { NATS_URL: suite.nats.server.url };
    const [a, b] = await Promise.all([tracedGateway("a", nats), tracedGateway("b", nats)]);
    const alice = await accessToken({ sub: "alice", tenantId: "acme" });
    const [onA, onB] = [await suite.stream(a, alice), await suite.stream(b, alice)];

    const caller = callerContext();
    const { id } = await publish(a, alice, caller.traceparent, { type: "n", data: 1, to: "me" });
    await Promise.all([onA.waitForData(1), onB.waitForData(1)]);
    expect([onA.envelopes()[0]?.id, onB.envelopes()[0]?.id]).toEqual([id, id]);

    const spans = await receiver.waitForTrace(
      caller.traceId,
      caller.parentId,
      (trace) => trace.some(isPublishRequest) && trace.some(isPublish) && trace.filter(isDelivery).length >= 2,
      "the HTTP call, the publish and a delivery span from each instance",
    );

    // The HTTP call on A continues the caller's trace.
    const request = spans.find(isPublishRequest);
    expect(request, traceDump(spans)).toBeDefined();
    expect(request?.parentSpanId).toBe(caller.parentId);
    expect(request?.resource["test.instance"]).toBe("a");
    expect(request?.resource["service.name"]).toBe("circl-bff");

    // One publish span, inside that call.
    const publishes = spans.filter(isPublish);
    expect(publishes, traceDump(spans)).toHaveLength(1);
    const publishSpan = publishes[0] as ReceivedSpan;
    expect(publishSpan.name).toBe("publish events.{tenant}.user.{user}");
    expect(publishSpan.resource["test.instance"]).toBe("a");
    expect(ancestry(spans, publishSpan)).toContain(request);
    expect(publishSpan.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.destination.name": subjectForKey({ tenant: "acme", user: "alice" }),
      "messaging.message.id": id,
    });

    // One delivery span per instance, each a child of the publish span (through NATS headers).
    const deliveries = spans.filter(isDelivery);
    expect(deliveries.map((s) => s.resource["test.instance"]).sort(), traceDump(spans)).toEqual(["a", "b"]);
    for (const delivery of deliveries) {
      expect(delivery.parentSpanId).toBe(publishSpan.spanId);
      expect(delivery.name).toBe("deliver events.{tenant}.user.{user}");
      expect(delivery.attributes).toMatchObject({
        "messaging.system": "nats",
        "messaging.destination.name": subjectForKey({ tenant: "acme", user: "alice" }),
        "circl_bff.event.seq": Number(id.split("-").at(-1)),
      });
    }
    expect(receiver.rejected).toEqual([]);
  });

  it("with the in-process bus, a publish span and its delivery span in one trace", async () => {
    const gw = await tracedGateway("solo");
    const bob = await accessToken({ sub: "bob", tenantId: "acme" });
    const stream = await suite.stream(gw, bob);

    const caller = callerContext();
    const { id } = await publish(gw, bob, caller.traceparent, { type: "n", data: 2, to: "me" });
    await stream.waitForData(1);

    const spans = await receiver.waitForTrace(
      caller.traceId,
      caller.parentId,
      (trace) => trace.some(isPublishRequest) && trace.some(isPublish) && trace.some(isDelivery),
      "the HTTP call, the publish and the delivery span",
    );
    const publishSpan = spans.find(isPublish);
    const delivery = spans.find(isDelivery);
    expect(publishSpan?.attributes).toMatchObject({ "messaging.system": "memory", "messaging.message.id": id });
    expect(delivery?.parentSpanId).toBe(publishSpan?.spanId);
    expect(delivery?.attributes["messaging.system"]).toBe("memory");
    expect(ancestry(spans, publishSpan as ReceivedSpan).at(-1)?.parentSpanId).toBe(caller.parentId);
  });

  it("traces an upstream call (undici) and sends its traceparent on", async () => {
    const upstream = await RecordingUpstream.start();
    suite.closeAfter(() => upstream.close());
    const gw = await tracedGateway("proxy", { UPSTREAM_URL: upstream.url });
    const token = await accessToken({ sub: "carol", tenantId: "acme" });

    const caller = callerContext();
    const res = await fetch(`${gw.url}/api/things?x=1`, {
      headers: { authorization: `Bearer ${token}`, traceparent: caller.traceparent },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();

    const forwarded = String(upstream.requests[0]?.headers.traceparent);
    const [, traceId, clientSpanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(forwarded) ?? [];
    expect(traceId, forwarded).toBe(caller.traceId);
    const spans = await receiver.waitForTrace(
      caller.traceId,
      caller.parentId,
      (trace) => trace.some((s) => s.spanId === clientSpanId),
      "the upstream call's span and its parents",
    );
    const client = spans.find((s) => s.spanId === clientSpanId) as ReceivedSpan;
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(ancestry(spans, client).at(-1)?.parentSpanId).toBe(caller.parentId);
  });
});

describe("without OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  it("says nothing of tracing and forwards the caller's traceparent upstream unchanged, as before", async () => {
    const upstream = await RecordingUpstream.start();
    suite.closeAfter(() => upstream.close());
    const gw = await GatewayProcess.start({ UPSTREAM_URL: upstream.url });
    suite.closeAfter(() => gw.kill("SIGTERM"));
    const token = await accessToken({ sub: "dave", tenantId: "acme" });
    const caller = callerContext();
    const res = await fetch(`${gw.url}/api/things`, {
      headers: { authorization: `Bearer ${token}`, traceparent: caller.traceparent },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(upstream.requests[0]?.headers.traceparent).toBe(caller.traceparent);
    expect(gw.log).not.toContain("OpenTelemetry tracing on");
  });
});
