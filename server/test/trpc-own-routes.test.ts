import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { logCapture } from "./helpers/log-capture.js";

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** A GET on `events.stream` read as text until `until` holds; headers and body as received. */
async function readStream(url: string, token: string, until: (body: string) => boolean) {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let body = "";
  return {
    res,
    /** Reads until `done` (the stream's `until` by default) holds for the body so far. */
    async next(done = until): Promise<string> {
      while (!done(body)) {
        const chunk = await reader.read();
        if (chunk.done) break;
        const value = chunk.value;
        body += decoder.decode(value, { stream: true });
      }
      return body;
    },
    close: () => controller.abort(),
  };
}

/** The body without what differs per stream: its client id and its `connected` time. */
function normalised(body: string): string {
  return body
    .replace(/"clientId":"[^"]+"/g, '"clientId":"*"')
    .replace(/("type":"connected".*?"timestamp":)"[^"]+"/g, '$1"*"');
}

describe("events.stream's own route", () => {
  it("serves httpSubscriptionLink requests with exactly the frames and headers tRPC's handler sends", async () => {
    const logs = logCapture();
    gw = await startGateway({}, { logStream: logs.stream });
    const token = await gw.token({ sub: "alice", roles: ["admin"] });
    const first = await gw.publish(token, { type: "wire.test", data: { n: 0 }, to: "me" });
    // Resumed from the first event: a resume id, tracked events, then an untracked item would restore it.
    const input = encodeURIComponent(JSON.stringify({ lastEventId: first.id, types: ["wire.test", "wire.other"] }));
    const hasAll = (body: string) => body.includes('"n":3');
    const connected = (body: string) => body.includes('"type":"connected"');
    // Live: both streams open, then the events are published.
    const liveRoute = await readStream(`${gw.url}/trpc/events.stream?input=${input}`, token, connected);
    // An unknown query parameter (tRPC ignores it) makes the route hand the request to tRPC's handler.
    const liveHandler = await readStream(`${gw.url}/trpc/events.stream?input=${input}&handler=1`, token, connected);
    await liveRoute.next();
    await liveHandler.next();
    for (const n of [1, 2, 3]) {
      await gw.publish(token, {
        type: n === 2 ? "wire.other" : "wire.test",
        data: { n },
        to: n === 3 ? "tenant" : "me",
      });
    }
    // Replayed: both opened afterwards, resuming from the first event.
    const readAll = async (url: string) => {
      const stream = await readStream(url, token, hasAll);
      const body = await stream.next();
      stream.close();
      return { body, res: stream.res };
    };
    const routeBody = await readAll(`${gw.url}/trpc/events.stream?input=${input}`);
    const handlerBody = await readAll(`${gw.url}/trpc/events.stream?input=${input}&handler=1`);
    const liveBodies = [await liveRoute.next(hasAll), await liveHandler.next(hasAll)];
    liveRoute.close();
    liveHandler.close();

    expect(liveBodies[0]).toContain('"n":2');
    expect(normalised(liveBodies[0] as string)).toBe(normalised(liveBodies[1] as string));
    expect(routeBody.body).toContain('"n":1');
    expect(routeBody.body).toMatch(/^event: connected\ndata: \{"reconnectAfterInactivityMs":\d+\}\n\n\n/);
    expect(normalised(routeBody.body)).toBe(normalised(handlerBody.body));
    for (const name of [
      "content-type",
      "cache-control",
      "x-accel-buffering",
      "connection",
      "access-control-allow-origin",
    ]) {
      expect(routeBody.res.headers.get(name), name).toBe(handlerBody.res.headers.get(name));
    }
    const answeredByTrpc = logs.lines.filter((line) => line.msg === "events.stream answered by tRPC's handler");
    // The two requests with `handler=1`, and no other.
    expect(answeredByTrpc.map((line) => line.reason)).toEqual(["request", "request"]);
    expect(liveRoute.res.headers.get("content-type")).toBe("text/event-stream");
  });

  it("leaves refusals to tRPC's handler: a topic not granted is tRPC's FORBIDDEN error event", async () => {
    const logs = logCapture();
    gw = await startGateway({}, { logStream: logs.stream });
    const token = await gw.token({ sub: "alice", extra: { topics: ["order:*"] } });
    const input = encodeURIComponent(JSON.stringify({ topics: ["order:1", "doc.7"] }));
    const stream = await readStream(`${gw.url}/trpc/events.stream?input=${input}`, token, (b) =>
      b.includes("event: serialized-error"),
    );
    const body = await stream.next();
    stream.close();
    expect(stream.res.status).toBe(200);
    const error = JSON.parse(body.split("event: serialized-error\ndata: ")[1]?.split("\n")[0] ?? "{}");
    expect(error).toMatchObject({ message: "topic not allowed: doc.7", data: { code: "FORBIDDEN" } });
    expect(logs.lines.filter((line) => line.reason === "refused")).toHaveLength(1);
  });
});

describe("events.publish's own route", () => {
  /** A POST of `events.publish` as httpBatchLink (`batch`) or a plain client sends it. */
  async function post(url: string, token: string | undefined, input: unknown, query = "") {
    const batch = query.includes("batch=1");
    const res = await fetch(`${url}/trpc/events.publish${query}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(batch ? { 0: input } : input),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
  }
  const withoutRequestIds = (body: unknown) =>
    JSON.parse(
      JSON.stringify(body)
        .replace(/"requestId":"[^"]+"/g, '"requestId":"*"')
        .replace(/"id":"[^"]+"/g, '"id":"*"'),
    );

  it("answers like tRPC's handler, single and batched, success and every refusal", async () => {
    const logs = logCapture();
    gw = await startGateway({}, { logStream: logs.stream });
    const token = await gw.token({ sub: "alice" });
    const cases: { name: string; token: string | undefined; input: unknown }[] = [
      { name: "published", token, input: { type: "wire.test", data: { n: 1 }, to: "me" } },
      { name: "forbidden", token, input: { type: "wire.test", data: null, to: "tenant" } },
      { name: "invalid", token, input: { type: "reset", data: null, to: "me" } },
      { name: "catalog", token, input: { type: "demo.message", data: { text: "" }, to: "me" } },
      { name: "unauthenticated", token: undefined, input: { type: "wire.test", data: null, to: "me" } },
    ];
    for (const query of ["", "?batch=1"]) {
      for (const c of cases) {
        const viaRoute = await post(gw.url, c.token, c.input, query);
        // An unknown query parameter (tRPC ignores it) makes the route hand the call to tRPC's handler.
        const viaHandler = await post(gw.url, c.token, c.input, `${query === "" ? "?" : `${query}&`}handler=1`);
        expect(viaRoute.status, `${c.name}${query}`).toBe(viaHandler.status);
        expect(withoutRequestIds(viaRoute.body), `${c.name}${query}`).toEqual(withoutRequestIds(viaHandler.body));
        for (const header of ["content-type", "www-authenticate", "retry-after"]) {
          expect(viaRoute.headers.get(header), `${c.name}${query} ${header}`).toBe(viaHandler.headers.get(header));
        }
      }
    }
    const published = await post(gw.url, token, { type: "wire.test", data: { n: 2 }, to: "me" }, "?batch=1");
    expect(published.body).toMatchObject([{ result: { data: { status: "published", id: expect.any(String) } } }]);

    const answered = logs.lines.filter((line) => line.msg === "events.publish answered by tRPC's handler");
    // Per query: five `handler=1` calls; the route's own unauthenticated, invalid and
    // catalog-invalid calls (request); its forbidden call (refused, after trying once).
    expect(answered.map((line) => line.reason).sort()).toEqual(
      [...Array(16).fill("request"), ...Array(2).fill("refused")].sort(),
    );
  });
});
