import type { EventEnvelope } from "@circl-bff/shared";

export type Transport = "trpc" | "raw";

/** Installed by the Playwright testing kit (an init script) before the page's own scripts run. */
type TestingHook = { events: { transport: Transport; envelope: EventEnvelope; at: number }[] };

const MAX_RECORDED = 10_000;

/** Records a delivered envelope when a test asked for it; a no-op in normal pages and in Node. */
export function recordForTesting(transport: Transport, envelope: EventEnvelope): void {
  const hook = (globalThis as { __circlBffTesting?: TestingHook }).__circlBffTesting;
  if (hook === undefined) return;
  if (hook.events.length >= MAX_RECORDED) hook.events.shift();
  hook.events.push({ transport, envelope, at: Date.now() });
}
