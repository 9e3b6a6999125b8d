import { z } from "zod";
import { todoSchema } from "../models/todo.js";
import { defineOperation, defineOperations } from "./define.js";

const todoId = z.string().min(1).max(64);
const title = z.string().trim().min(1).max(200);

/**
 * The example manifest: the demo upstream's tenant-scoped todo list (server/src/demo-upstream).
 * A team adds its own operations the same way, in a file of its own, and spreads them into
 * `operations` (index.ts).
 */
export const todoOperations = defineOperations({
  listTodos: defineOperation({
    method: "GET",
    path: "/todos",
    description: "The caller's tenant's todos, optionally only open or done ones",
    input: z.object({ query: z.object({ done: z.boolean().optional() }).optional() }),
    output: z.object({ items: z.array(todoSchema) }),
  }),
  getTodo: defineOperation({
    method: "GET",
    path: "/todos/{id}",
    input: z.object({ params: z.object({ id: todoId }) }),
    output: todoSchema,
  }),
  createTodo: defineOperation({
    method: "POST",
    path: "/todos",
    description: "Creates a todo; a duplicate title in the tenant is CONFLICT",
    input: z.object({ body: z.object({ title }) }),
    output: todoSchema,
    emits: (todo) => ({ type: "todo.changed", data: { change: "created", todo } }),
  }),
  updateTodo: defineOperation({
    method: "PATCH",
    path: "/todos/{id}",
    input: z.object({
      params: z.object({ id: todoId }),
      body: z.object({ title: title.optional(), done: z.boolean().optional() }),
    }),
    output: todoSchema,
    emits: (todo) => ({ type: "todo.changed", data: { change: "updated", todo } }),
  }),
  deleteTodo: defineOperation({
    method: "DELETE",
    path: "/todos/{id}",
    input: z.object({ params: z.object({ id: todoId }) }),
    output: z.undefined(),
    emits: (_output, input) => ({ type: "todo.changed", data: { change: "deleted", id: input.params.id } }),
  }),
  whoami: defineOperation({
    method: "GET",
    path: "/whoami",
    description: "What the upstream received from the gateway (tenant, user, request id, trace)",
    input: z.object({}),
    output: z.object({
      tenantId: z.string(),
      userId: z.string(),
      requestId: z.string(),
      traceparent: z.string(),
    }),
  }),
});
