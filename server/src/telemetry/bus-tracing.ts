import type { StreamKey } from "@circl-bff/shared";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { BusPublishResult } from "../bus/event-bus.js";

/**
 * Spans on the event path: a publish, and its delivery on each instance that has a listener for
 * the event's key. `telemetry/tracing.ts` installs it when tracing is configured
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`); until then `busTracing` is undefined and the publisher and the
 * buses test it once per publish or delivery and do nothing more: no span, no header, no
 * context, and no OpenTelemetry module is loaded.
 */
export type BusTracing = {
  /** Runs `send` (one `bus.publish`) in a PRODUCER span, a child of the active context (the HTTP call). */
  publish(key: StreamKey, system: string, send: () => Promise<BusPublishResult>): Promise<BusPublishResult>;
  /** NATS headers carrying the active context (`traceparent`, `tracestate`): the publish span's. */
  natsHeaders(): MsgHdrs;
  /** Runs `deliver` in a CONSUMER span whose parent is the context in the message's headers (if any). */
  deliverNats(subject: string, seq: number, headers: MsgHdrs | undefined, deliver: () => void): void;
  /** The in-process bus: `deliver` runs inside `publish`, so its span is a child of the active (publish) span. */
  deliverLocal(subject: string, seq: number, deliver: () => void): void;
};

export let busTracing: BusTracing | undefined;

export function installBusTracing(tracing: BusTracing | undefined): void {
  busTracing = tracing;
}
