export * from "./event-schemas.js";
export * from "./stream-key.js";
export * from "./subject-encoding.js";
