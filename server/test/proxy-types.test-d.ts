import type { Todo, todoSchema } from "@circl-bff/shared";
import { createTRPCClient, httpBatchLink } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { describe, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type { AppRouter } from "../src/app.js";

// Compile-time checks, nothing runs (vitest's typecheck, "server types", and `tsc -b` check this
// file): the manifest's schemas reach the client.
describe("proxy.* types", () => {
  it("infer each operation's input and output from the manifest", () => {
    type Inputs = inferRouterInputs<AppRouter>["proxy"];
    type Outputs = inferRouterOutputs<AppRouter>["proxy"];

    expectTypeOf<Todo>().toEqualTypeOf<z.infer<typeof todoSchema>>();
    expectTypeOf<Inputs["getTodo"]>().toEqualTypeOf<{ params: { id: string } }>();
    expectTypeOf<Outputs["getTodo"]>().toEqualTypeOf<Todo>();
    expectTypeOf<Inputs["createTodo"]>().toEqualTypeOf<{
      body: { title: string };
      idempotencyKey?: string | undefined;
    }>();
    expectTypeOf<Outputs["listTodos"]>().toEqualTypeOf<{ items: Todo[] }>();
    expectTypeOf<Outputs["deleteTodo"]>().toEqualTypeOf<undefined>();

    const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: "http://127.0.0.1:9/trpc" })] });
    expectTypeOf(client.proxy.getTodo.query).parameter(0).toEqualTypeOf<{ params: { id: string } }>();
    expectTypeOf(client.proxy.getTodo.query).returns.resolves.toEqualTypeOf<Todo>();
    expectTypeOf(client.proxy.createTodo.mutate).returns.resolves.toEqualTypeOf<Todo>();
    // GET operations are queries, the others mutations
    expectTypeOf(client.proxy.listTodos).toHaveProperty("query");
    expectTypeOf(client.proxy.listTodos).not.toHaveProperty("mutate");
    expectTypeOf(client.proxy.deleteTodo).toHaveProperty("mutate");
    expectTypeOf(client.proxy.deleteTodo).not.toHaveProperty("query");
  });
});
