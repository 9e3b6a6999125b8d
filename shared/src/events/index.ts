import { defineEvents } from "../catalog/define-events.js";
import { demoEvents } from "./demo.js";
import { todoEvents } from "./todos.js";

export * from "./demo.js";
export * from "./todos.js";

/**
 * The project's event catalog: every typed event, one file per domain. A team adds its own
 * domain file and spreads it in here; the gateway validates, and the client types, from it.
 */
export const eventCatalog = defineEvents({
  ...demoEvents,
  ...todoEvents,
});

export type EventCatalog = typeof eventCatalog;
/** The event types the catalog defines. */
export type CatalogEventType = keyof EventCatalog & string;
