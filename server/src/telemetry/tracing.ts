import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { type StreamKey, subjectForKey } from "@circl-bff/shared";
import { FastifyOtelInstrumentation } from "@fastify/otel";
import { type Attributes, context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace-node";
import { formatEventId } from "../bus/position.js";
import type { OtlpProtocol } from "../config.js";
import { type BusTracing, installBusTracing } from "./bus-tracing.js";
import { extractTraceContext, injectTraceContext } from "./nats-trace-context.js";
import { setUpstreamTraced } from "./upstream-tracing.js";

export type Tracing = { shutdown(): Promise<void> };

/** Probes and scrapes: a trace each would bury the ones that matter. */
const UNTRACED_PATHS = ["/health", "/ready", "/metrics", "/favicon.ico"];

const untraced = (url: string): boolean => UNTRACED_PATHS.some((path) => url === path || url.startsWith(`${path}?`));

/**
 * Starts the OpenTelemetry SDK: spans of every HTTP request (`@fastify/otel`, which continues a
 * caller's `traceparent`), of upstream calls (undici: `/api/*`, `proxy.*`, `TOPIC_AUTH_URL`,
 * which carry `traceparent` on), and of each publish and its deliveries (`bus-tracing.ts`), sent
 * in batches over OTLP/HTTP. Called by `main.ts` before the app is built (Fastify announces its
 * instances on a diagnostics channel, which is where `@fastify/otel` attaches); loaded only when
 * tracing is configured.
 */
export async function startTracing(settings: { url: URL; protocol: OtlpProtocol }): Promise<Tracing> {
  const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  const provider = new NodeTracerProvider({
    // The environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) overrides these defaults.
    resource: defaultResource()
      .merge(
        resourceFromAttributes({
          "service.name": "circl-bff",
          "service.version": version,
          "service.instance.id": randomUUID(),
        }),
      )
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [new BatchSpanProcessor(await exporter(settings))],
  });
  // The AsyncLocalStorage context manager and the W3C trace-context + baggage propagators.
  provider.register();
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        // A span per request and one for its handler; not one per hook (a dozen per request).
        instrumentHooks: false,
        ignorePaths: (route) => untraced(route.url),
      }),
      new UndiciInstrumentation(),
    ],
  });
  installBusTracing(busTracing(provider.getTracer("circl-bff", version)));
  setUpstreamTraced(true);
  return {
    async shutdown() {
      installBusTracing(undefined);
      setUpstreamTraced(false);
      unregister();
      await provider.shutdown(); // exports what is still batched
    },
  };
}

async function exporter(settings: { url: URL; protocol: OtlpProtocol }): Promise<SpanExporter> {
  const url = settings.url.href;
  if (settings.protocol === "http/json") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    return new OTLPTraceExporter({ url });
  }
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
  return new OTLPTraceExporter({ url });
}

/**
 * `events.<tenant>.user.<user>` → `events.{tenant}.user.{user}`: span names stay few (the
 * subject itself is an attribute), as the messaging conventions ask.
 */
function destinationTemplate(subject: string): string {
  const kind = subject.split(".")[2];
  if (kind === "user") return "events.{tenant}.user.{user}";
  if (kind === "topic") return "events.{tenant}.topic.{topic}";
  if (kind === "broadcast") return "events.{tenant}.broadcast";
  return "events";
}

function busTracing(tracer: ReturnType<NodeTracerProvider["getTracer"]>): BusTracing {
  const deliver = (span: Span, parent: ReturnType<typeof context.active>, run: () => void): void => {
    try {
      context.with(trace.setSpan(parent, span), run);
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  };
  const deliveryAttributes = (subject: string, seq: number, system: string): Attributes => ({
    "messaging.system": system,
    "messaging.operation.type": "process",
    "messaging.operation.name": "deliver",
    "messaging.destination.name": subject,
    "circl_bff.event.seq": seq,
  });
  return {
    async publish(key: StreamKey, system, send) {
      const subject = subjectForKey(key);
      const span = tracer.startSpan(`publish ${destinationTemplate(subject)}`, {
        kind: SpanKind.PRODUCER,
        attributes: {
          "messaging.system": system,
          "messaging.operation.type": "send",
          "messaging.operation.name": "publish",
          "messaging.destination.name": subject,
        },
      });
      try {
        const result = await context.with(trace.setSpan(context.active(), span), send);
        span.setAttribute("circl_bff.publish.status", result.status);
        if (result.status !== "queued") {
          span.setAttribute("messaging.message.id", formatEventId(result.position.epoch, result.position.seq));
        }
        return result;
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
    natsHeaders: () => injectTraceContext(),
    deliverNats(subject, seq, headers, run) {
      const parent = extractTraceContext(headers);
      const span = tracer.startSpan(
        `deliver ${destinationTemplate(subject)}`,
        { kind: SpanKind.CONSUMER, attributes: deliveryAttributes(subject, seq, "nats") },
        parent,
      );
      deliver(span, parent, run);
    },
    deliverLocal(subject, seq, run) {
      const parent = context.active();
      const span = tracer.startSpan(
        `deliver ${destinationTemplate(subject)}`,
        { kind: SpanKind.CONSUMER, attributes: deliveryAttributes(subject, seq, "memory") },
        parent,
      );
      deliver(span, parent, run);
    },
  };
}

function fail(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  if (error instanceof Error) span.recordException(error);
}
