/**
 * True while tracing is on: the undici instrumentation then puts the upstream call's own
 * `traceparent` (its client span, in the caller's trace) on every upstream request, and the proxy
 * must not set one as well (the upstream would receive two). Off, the proxy forwards the
 * caller's `traceparent` or starts a trace itself (`proxy/upstream-headers.ts`).
 */
export let upstreamTraced = false;

export function setUpstreamTraced(on: boolean): void {
  upstreamTraced = on;
}
