import type { z } from "zod";

/** One event type of a catalog: the schema its `data` must match, and what it means. */
export type EventDefinition<TData extends z.ZodType = z.ZodType> = {
  readonly data: TData;
  readonly description?: string;
};

export type EventDefinitions = Readonly<Record<string, EventDefinition>>;

/** Event types the gateway emits itself; publishers may not use them. */
export const RESERVED_EVENT_TYPES = ["connected", "reset", "ping", "presence.join", "presence.leave"] as const;
export type ReservedEventType = (typeof RESERVED_EVENT_TYPES)[number];

const EVENT_TYPE = /^[A-Za-z0-9_.:-]{1,128}$/;

export function isReservedEventType(type: string): type is ReservedEventType {
  return (RESERVED_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * Declares event types with the schema of their `data` (docs/events.md). The result is the
 * definitions object itself, checked: every key is a valid, non-reserved event type. Spread
 * several domains' definitions into one `defineEvents` call to build a catalog.
 */
export function defineEvents<const T extends EventDefinitions>(definitions: T): T {
  for (const type of Object.keys(definitions)) {
    if (!EVENT_TYPE.test(type)) throw new TypeError(`event type "${type}" is not 1-128 characters of [A-Za-z0-9_.:-]`);
    if (isReservedEventType(type)) throw new TypeError(`event type "${type}" is reserved for the gateway`);
  }
  return Object.freeze({ ...definitions });
}

/** The `data` type of one catalog type, as the gateway delivers it (the schema's output). */
export type EventDataOf<TCatalog extends EventDefinitions, TType extends keyof TCatalog> = z.output<
  TCatalog[TType]["data"]
>;
