export * from "./catalog/index.js";
export * from "./claim-path.js";
export * from "./event-schemas.js";
export * from "./events/index.js";
export * from "./json-depth.js";
export * from "./operations/index.js";
export * from "./stream-key.js";
export * from "./subject-encoding.js";
