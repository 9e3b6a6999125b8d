/** The part of the WHATWG `EventSource` this package uses (browsers and the `eventsource` package). */
export interface EventSourceInstance {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  removeEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean; [key: string]: unknown },
) => EventSourceInstance;

/** The global `EventSource` where there is one (browsers, Deno), else the `eventsource` package (Node). */
export async function resolveEventSource(explicit?: EventSourceConstructor): Promise<EventSourceConstructor> {
  if (explicit !== undefined) return explicit;
  const global = (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  if (global !== undefined) return global;
  const module = await import("eventsource");
  return module.EventSource as unknown as EventSourceConstructor;
}
