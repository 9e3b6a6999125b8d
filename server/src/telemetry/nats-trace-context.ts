import { headers, Match, type MsgHdrs } from "@nats-io/transport-node";
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";

/**
 * W3C trace context (`traceparent`, `tracestate`) in NATS message headers: injected on publish,
 * extracted on receive, through the globally registered propagator. Backends that publish with
 * an OpenTelemetry NATS client continue their own traces the same way.
 */
const setter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const getter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  // Matched case-insensitively: HTTP-minded publishers send `Traceparent` (Go canonicalises names).
  get: (carrier, key) => {
    const value = carrier.get(key, Match.IgnoreCase);
    return value === "" ? undefined : value;
  },
};

/** New headers holding `ctx` (default: the active context), for `js.publish(..., { headers })`. */
export function injectTraceContext(ctx: Context = context.active()): MsgHdrs {
  const carrier = headers();
  propagation.inject(ctx, carrier, setter);
  return carrier;
}

/**
 * The context a received message was published in; the root context when it carries none. Not
 * the active context: a delivery happens in whatever async context the connection's socket has.
 */
export function extractTraceContext(carrier: MsgHdrs | undefined): Context {
  if (carrier === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier, getter);
}
