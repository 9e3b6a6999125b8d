// Type-level specification of the client: nothing runs. Vitest's typecheck reports each `it`
// (vitest.config.ts, "client types"), and `tsc -b` (`npm run build` / `check`) checks it too.
import type { EventEnvelope, PresenceEventData, PublishInput } from "@circl-bff/shared";
import type { inferRouterInputs, inferRouterOutputs, TRPC_ERROR_CODE_KEY } from "@trpc/server";
import { describe, expectTypeOf, it } from "vitest";
import {
  type AppRouter,
  type BffClient,
  type BffClientError,
  type CatalogEnvelope,
  envelopeOf,
  isBffClientError,
  isEvent,
  onEvents,
  type StreamEnvelope,
} from "../src/index.js";

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;
/** The object members of a union (tRPC types an optional input as `T | undefined | void`). */
type ObjectPart<T> = T extends object ? T : never;
type ErrorData = Exclude<BffClientError["data"], null | undefined>;

/** The wire shape of an envelope: JSON drops an `undefined` payload, so `data` may be absent. */
type WireEnvelope = {
  id: string;
  type: string;
  data?: unknown;
  tenantId: string;
  userId?: string | undefined;
  topic?: string | undefined;
  timestamp: string;
  correlationId?: string | undefined;
};

/** Never called: the assertions live in the callback's parameter types. */
function streamDataTypes(client: BffClient) {
  client.events.stream.subscribe(undefined, {
    onData: (item) => {
      if ("type" in item) {
        // Untracked (`connected`, presence): the envelope itself.
        expectTypeOf(item).toEqualTypeOf<WireEnvelope>();
        return;
      }
      // Tracked: tRPC's `{ id, data: envelope }`, the envelope typed by the catalog.
      expectTypeOf(item.id).toEqualTypeOf<string>();
      expectTypeOf(item.data).toExtend<Omit<EventEnvelope, "data">>();
      if (isEvent(item.data, "demo.message")) expectTypeOf(item.data.data).toEqualTypeOf<{ text: string }>();
      expectTypeOf(envelopeOf(item)).toEqualTypeOf<EventEnvelope>();
    },
  });
}

/** Never called: `onEvents` types each handler's envelope by the catalog and refuses other keys. */
function onEventsTypes(client: BffClient) {
  const stop = onEvents(
    client,
    {
      "demo.message": (event) => {
        expectTypeOf(event).toEqualTypeOf<CatalogEnvelope<"demo.message">>();
        expectTypeOf(event.data).toEqualTypeOf<{ text: string }>();
        expectTypeOf(event.type).toEqualTypeOf<"demo.message">();
      },
      "todo.changed": (event) => {
        if (event.data.change === "deleted") expectTypeOf(event.data.id).toEqualTypeOf<string>();
        else expectTypeOf(event.data.todo.id).toBeString();
      },
      "presence.join": (event) => {
        expectTypeOf(event.data).toEqualTypeOf<PresenceEventData>();
        expectTypeOf(event.type).toEqualTypeOf<"presence.join">();
      },
    },
    {
      topics: ["order:1"],
      onReady: (info) => expectTypeOf(info).toEqualTypeOf<{ clientId: string; resumed: boolean }>(),
      onReset: (data) => expectTypeOf(data).toEqualTypeOf<{ reason: string; lastEventId: string }>(),
      onError: (error) => expectTypeOf(error.data?.code).toEqualTypeOf<TRPC_ERROR_CODE_KEY | undefined>(),
    },
  );
  expectTypeOf(stop).toEqualTypeOf<() => void>();
  // @ts-expect-error "nope.nothing" is not a catalog type
  onEvents(client, { "nope.nothing": () => {} });
  // @ts-expect-error demo.message has no field `nope`
  onEvents(client, { "demo.message": (event) => event.data.nope });
  const handlers = { "demo.message": () => {}, "not.in.catalog": () => {} };
  // @ts-expect-error a key that is not a catalog type does not compile, literal or not
  onEvents(client, handlers);
}

describe("client types", () => {
  it("infers events.publish input and output", () => {
    expectTypeOf<Inputs["events"]["publish"]>().toEqualTypeOf<PublishInput>();
    expectTypeOf<Inputs["events"]["publish"]["to"]>().toEqualTypeOf<"me" | "tenant" | { topic: string }>();
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

  it("infers what events.stream yields: tracked { id, data: EventEnvelope } or an untracked envelope", () => {
    expectTypeOf(streamDataTypes).toBeFunction();
    expectTypeOf<ObjectPart<Inputs["events"]["stream"]>>().toEqualTypeOf<{
      lastEventId?: string | undefined;
      types?: string[] | undefined;
      topics?: string[] | undefined;
      presence?: boolean | undefined;
    }>();
    expectTypeOf<undefined>().toExtend<Inputs["events"]["stream"]>();
    expectTypeOf<Outputs["auth"]["streamToken"]>().toEqualTypeOf<{ token: string; expiresIn: number }>();
  });

  it("types onEvents handlers by the catalog and refuses unknown types", () => {
    expectTypeOf(onEventsTypes).toBeFunction();
    expectTypeOf<Extract<StreamEnvelope, { type: "demo.message" }>["data"]>().toEqualTypeOf<{ text: string }>();
  });

  it("infers presence.list", () => {
    expectTypeOf<Inputs["presence"]["list"]>().toEqualTypeOf<{ topic: string }>();
    expectTypeOf<Outputs["presence"]["list"]>().toEqualTypeOf<{
      topic: string;
      users: { userId: string; connections: number }[];
    }>();
    expectTypeOf<BffClient["presence"]["list"]["query"]>().returns.resolves.toEqualTypeOf<
      Outputs["presence"]["list"]
    >();
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
