export * from "./define-events.js";
export * from "./validate-event.js";
