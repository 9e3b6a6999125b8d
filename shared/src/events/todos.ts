import { z } from "zod";
import { defineEvents } from "../catalog/define-events.js";
import { todoSchema } from "../models/todo.js";

/** Todos of the demo upstream, changed through the typed `proxy.*` calls. */
export const todoEvents = defineEvents({
  "todo.changed": {
    description:
      "A todo was created, updated or deleted; every stream of the tenant learns it without refetching the list.",
    data: z.discriminatedUnion("change", [
      z.object({ change: z.enum(["created", "updated"]), todo: todoSchema }),
      z.object({ change: z.literal("deleted"), id: z.string().min(1).max(128) }),
    ]),
  },
});
