import type { OperationManifest } from "./define.js";
import { todoOperations } from "./todos.js";

export * from "./define.js";
export * from "./todos.js";

/**
 * Every typed upstream call the gateway exposes as `proxy.<name>`. Add a team's operations by
 * spreading its manifest in here; names must be unique.
 */
export const operations = {
  ...todoOperations,
} satisfies OperationManifest;
