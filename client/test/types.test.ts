// Type-level specification of the client (checked by `tsc -b`, which `npm run build`/`check` run;
// the runtime part only makes vitest list it).
import type { EventEnvelope, PublishInput } from "@circl-bff/shared";
import type { inferRouterInputs, inferRouterOutputs, TRPC_ERROR_CODE_KEY } from "@trpc/server";
import { describe, expectTypeOf, it } from "vitest";
import { type AppRouter, type BffClient, type BffClientError, isBffClientError } from "../src/index.js";

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;
/** The object members of a union (tRPC types an optional input as `T | undefined | void`). */
type ObjectPart<T> = T extends object ? T : never;
type ErrorData = Exclude<BffClientError["data"], null | undefined>;

/** Never called: the assertions live in the callback's parameter types. */
function streamDataTypes(client: BffClient) {
  client.events.stream.subscribe(undefined, {
    onData: (value) => {
      expectTypeOf(value.id).toEqualTypeOf<string>();
      // JSON on the wire: the `unknown` payload may be absent after serialisation, the rest is exact.
      expectTypeOf(value.data).toEqualTypeOf<{
        id: string;
        type: string;
        data?: unknown;
        tenantId: string;
        userId?: string | undefined;
        timestamp: string;
        correlationId?: string | undefined;
      }>();
      expectTypeOf(value.data).toExtend<Omit<EventEnvelope, "data">>();
    },
  });
}

describe("client types", () => {
  it("infers events.publish input and output", () => {
    expectTypeOf<Inputs["events"]["publish"]>().toEqualTypeOf<PublishInput>();
    expectTypeOf<Inputs["events"]["publish"]["to"]>().toEqualTypeOf<"me" | "tenant">();
    expectTypeOf<Outputs["events"]["publish"]>().toEqualTypeOf<{
      requestId: string;
      status: "published" | "duplicate" | "queued";
      id?: string | undefined;
    }>();
    expectTypeOf<BffClient["events"]["publish"]["mutate"]>().returns.resolves.toEqualTypeOf<
      Outputs["events"]["publish"]
    >();
    expectTypeOf<BffClient["events"]["publish"]["mutate"]>().parameter(0).toEqualTypeOf<PublishInput>();
  });

  it("infers the tracked envelope events.stream yields: { id, data: EventEnvelope }", () => {
    expectTypeOf(streamDataTypes).toBeFunction();
    expectTypeOf<ObjectPart<Inputs["events"]["stream"]>>().toEqualTypeOf<{
      lastEventId?: string | undefined;
      types?: string[] | undefined;
    }>();
    expectTypeOf<undefined>().toExtend<Inputs["events"]["stream"]>();
    expectTypeOf<Outputs["auth"]["streamToken"]>().toEqualTypeOf<{ token: string; expiresIn: number }>();
  });

  it("types the error shape, including the request id and zod issues", () => {
    expectTypeOf<ErrorData["code"]>().toEqualTypeOf<TRPC_ERROR_CODE_KEY>();
    expectTypeOf<ErrorData["httpStatus"]>().toEqualTypeOf<number>();
    expectTypeOf<ErrorData["path"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<ErrorData["requestId"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<ErrorData>().toHaveProperty("zodIssues");
    const caught: unknown = new Error("x");
    if (isBffClientError(caught)) expectTypeOf(caught.data?.requestId).toEqualTypeOf<string | undefined>();
  });
});
