import type { EventEnvelope, ResetEventData } from "@circl-bff/shared";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "../../server/test/helpers/gateway.js";
import { createBffClient } from "../src/create-client.js";
import { fetchStreamToken, openEventStream } from "../src/open-event-stream.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gateway(env: Record<string, string> = {}): Promise<Gateway> {
  const gw = await startGateway(env);
  cleanups.push(() => gw.close());
  return gw;
}

/** A `fetch` that counts `auth.streamToken` calls. */
function countingFetch() {
  const counter = { tokens: 0 };
  const wrapped: typeof fetch = (input, init) => {
    if (String(input).includes("auth.streamToken")) counter.tokens++;
    return fetch(input, init);
  };
  return { fetch: wrapped, counter };
}

describe("createBffClient in Node (eventsource package, no global EventSource)", () => {
  it("publishes and streams typed envelopes, resuming across server-side ends and token expiry", async () => {
    const gw = await gateway({ STREAM_TOKEN_TTL_S: "5", SSE_MAX_CONNECTION_MS: "2000", SSE_HEARTBEAT_MS: "500" });
    const { fetch, counter } = countingFetch();
    const accessToken = await gw.token({ sub: "u1", tenantId: "t1", roles: ["admin"] });
    const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken, fetch });
    expect(typeof globalThis.EventSource).toBe("undefined");

    const received: { id: string; n: unknown }[] = [];
    const sub = client.events.stream.subscribe(undefined, {
      onData: ({ id, data }) => {
        expect(data.id).toBe(id);
        received.push({ id, n: data.data });
      },
    });
    cleanups.push(() => sub.unsubscribe());
    await expect.poll(() => gw.app.hub.connectionCount).toBe(1);

    // Publish one event every 250 ms for 7 s: across 3 max-duration ends and one token expiry.
    const published: { id: string; n: unknown }[] = [];
    for (let n = 1; n <= 28; n++) {
      const result = await client.events.publish.mutate({ type: "tick", data: n, to: n % 2 ? "me" : "tenant" });
      published.push({ id: result.id as string, n });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(28);
    expect(received).toEqual(published);
    expect(counter.tokens).toBeGreaterThanOrEqual(2);
  });

  it("surfaces reset envelopes through onReset", async () => {
    const gw = await gateway();
    const accessToken = await gw.token();
    const resets: ResetEventData[] = [];
    const client = createBffClient({
      url: gw.url,
      getAccessToken: async () => accessToken,
      onReset: (d) => resets.push(d),
    });
    const seen: string[] = [];
    const sub = client.events.stream.subscribe(
      { lastEventId: "0000-1" },
      { onData: ({ data }) => seen.push(data.type) },
    );
    cleanups.push(() => sub.unsubscribe());
    await expect.poll(() => resets.length).toBe(1);
    expect(resets[0]).toEqual({ reason: "epoch-changed", lastEventId: "0000-1" });
    expect(seen).toEqual(["reset"]);
  });

  it("rejects a wrong input with BAD_REQUEST and a forbidden tenant publish with FORBIDDEN", async () => {
    const gw = await gateway();
    const accessToken = await gw.token({ roles: [] });
    const client = createBffClient({ url: gw.url, getAccessToken: () => accessToken });
    await expect(client.events.publish.mutate({ type: "ping", data: 1, to: "me" })).rejects.toMatchObject({
      data: { code: "BAD_REQUEST", httpStatus: 400 },
    });
    await expect(client.events.publish.mutate({ type: "x", data: 1, to: "tenant" })).rejects.toMatchObject({
      data: { code: "FORBIDDEN", httpStatus: 403 },
    });
  });
});

describe("openEventStream in Node", () => {
  it("receives every event in order across server-side ends with fresh stream tokens", async () => {
    const gw = await gateway({ SSE_MAX_CONNECTION_MS: "1500", SSE_HEARTBEAT_MS: "500" });
    let tokenRequests = 0;
    const accessToken = await gw.token();
    const events: EventEnvelope[] = [];
    const connections: boolean[] = [];
    const stream = openEventStream(gw.url, {
      // A bare string: fetched again on every connect.
      getStreamToken: async () => {
        tokenRequests++;
        return (await fetchStreamToken(gw.url, accessToken)).token;
      },
      types: ["n"],
      onEvent: (envelope) => events.push(envelope),
      onConnected: (info) => connections.push(info.resumed),
    });
    cleanups.push(() => stream.close());
    await expect.poll(() => connections.length).toBe(1);
    const ids: string[] = [];
    for (let n = 1; n <= 12; n++) {
      ids.push((await gw.publish(accessToken, { type: n % 4 === 0 ? "other" : "n", data: n, to: "me" })).id as string);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const expected = ids.filter((_, i) => (i + 1) % 4 !== 0);
    await expect.poll(() => events.length, { timeout: 8000 }).toBe(expected.length);
    expect(events.map((e) => e.id)).toEqual(expected);
    expect(connections.length).toBeGreaterThanOrEqual(2);
    expect(connections.slice(1).every((resumed) => resumed)).toBe(true);
    expect(tokenRequests).toBe(connections.length);
    expect(stream.lastEventId).toBe(expected.at(-1));
  });

  it("after a refused token (401) it fetches a new one and connects", async () => {
    const gw = await gateway();
    const accessToken = await gw.token();
    const handed: string[] = [];
    const connections: boolean[] = [];
    const events: EventEnvelope[] = [];
    const stream = openEventStream(gw.url, {
      // First a token the gateway refuses, then real ones (with their lifetime, so they are cached).
      getStreamToken: async () => {
        if (handed.length === 0) {
          handed.push("bad");
          return { token: "not-a-stream-token", expiresIn: 300 };
        }
        handed.push("good");
        return fetchStreamToken(gw.url, accessToken);
      },
      types: ["n"],
      onEvent: (envelope) => events.push(envelope),
      onConnected: (info) => connections.push(info.resumed),
    });
    cleanups.push(() => stream.close());
    await expect.poll(() => connections.length).toBe(1);
    expect(handed).toEqual(["bad", "good"]);
    const published = await gw.publish(accessToken, { type: "n", data: 1, to: "me" });
    await expect.poll(() => events.map((e) => e.id)).toEqual([published.id]);
    // A dropped connection reuses the cached good token.
    stream.reconnect();
    await expect.poll(() => connections.length).toBe(2);
    expect(handed).toEqual(["bad", "good"]);
  });
});
