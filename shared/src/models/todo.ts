import { z } from "zod";

/**
 * A todo of the demo upstream (server/src/demo-upstream): the shape its typed operations answer
 * with and its `todo.changed` events carry. Both import it from here, so that the catalog and
 * the operation manifest do not import each other.
 */
export const todoSchema = z.object({
  id: z.string(),
  title: z.string(),
  done: z.boolean(),
  createdBy: z.string(),
  createdAt: z.string(),
});
export type Todo = z.infer<typeof todoSchema>;
