import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { json, request } from "./helpers/http.js";
import { trackHandles } from "./helpers/leak-check.js";
import { RecordingUpstream } from "./helpers/recording-upstream.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstream(...args: Parameters<typeof RecordingUpstream.start>): Promise<RecordingUpstream> {
  const server = await RecordingUpstream.start(...args);
  cleanups.push(() => server.close());
  return server;
}

async function gateway(env: Record<string, string>): Promise<Gateway> {
  const gw = await startGateway(env);
  cleanups.push(() => gw.close());
  return gw;
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function expectErrorShape(body: Record<string, unknown>, statusCode: number) {
  expect(body).toEqual({
    statusCode,
    error: expect.any(String),
    message: expect.any(String),
    requestId: expect.any(String),
  });
}

describe("raw proxy /api/*", () => {
  it("passes every method, the query string and JSON or binary bodies through unchanged, and the answer back", async () => {
    const up = await upstream((_req, res, recorded) => {
      res.writeHead(207, { "content-type": "application/octet-stream", "x-upstream": "yes" });
      res.end(Buffer.concat([Buffer.from(`${recorded.method}:`), recorded.body]));
    });
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const token = await gw.token();
    const binary = randomBytes(4096);
    const json = Buffer.from(JSON.stringify({ title: "café ☕", n: [1, 2, 3], nested: { ok: true } }));
    const query = "?b=2&a=1&a=%20x&empty=&q=caf%C3%A9";
    const cases = [
      { method: "GET", body: undefined, type: undefined },
      { method: "POST", body: json, type: "application/json" },
      { method: "PUT", body: binary, type: "application/octet-stream" },
      { method: "PATCH", body: json, type: "application/merge-patch+json" },
      { method: "DELETE", body: binary, type: "application/x-custom" },
    ];
    for (const [index, c] of cases.entries()) {
      const res = await request(`${gw.url}/api/items/42${query}`, {
        method: c.method,
        headers: { authorization: `Bearer ${token}`, ...(c.type === undefined ? {} : { "content-type": c.type }) },
        body: c.body,
      });
      const seen = up.requests[index];
      expect(seen?.method).toBe(c.method);
      expect(seen?.url).toBe(`/items/42${query}`);
      expect(seen?.headers["content-type"]).toBe(c.type);
      expect(seen?.body.equals(c.body ?? Buffer.alloc(0))).toBe(true);
      expect(res.status).toBe(207);
      expect(res.headers["x-upstream"]).toBe("yes");
      expect(res.headers["content-type"]).toBe("application/octet-stream");
      expect(res.bytes.equals(Buffer.concat([Buffer.from(`${c.method}:`), c.body ?? Buffer.alloc(0)]))).toBe(true);
    }
    expect(up.requests).toHaveLength(cases.length);
  });

  it("streams a chunked request body of unknown length", async () => {
    const up = await upstream();
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const parts = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
    const res = await request(`${gw.url}/api/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${await gw.token()}`, "content-type": "application/octet-stream" },
      body: Readable.from(parts),
    });
    expect(res.status).toBe(200);
    expect(up.requests[0]?.body.equals(Buffer.concat(parts))).toBe(true);
  });

  it("keeps the base path of UPSTREAM_URL", async () => {
    const up = await upstream();
    const gw = await gateway({ UPSTREAM_URL: `${up.url}/v1/` });
    const res = await request(`${gw.url}/api/items/7?x=1`, {
      headers: { authorization: `Bearer ${await gw.token()}` },
    });
    expect(res.status).toBe(200);
    expect(up.requests.map((r) => r.url)).toEqual(["/v1/items/7?x=1"]);
  });

  it("replaces forged identity headers with the token's, and sends the Authorization, request id and trace", async () => {
    const up = await upstream();
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const token = await gw.token({ sub: "alice@example.com", tenantId: "acme" });
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const forged = await request(`${gw.url}/api/whoami`, {
      headers: {
        authorization: `Bearer ${token}`,
        "x-tenant-id": "evil-corp",
        "x-user-id": "mallory",
        "x-request-id": "client-req-1",
        traceparent,
        tracestate: "vendor=abc",
        "x-forwarded-for": "10.6.6.6",
        cookie: "gateway-session=secret",
      },
    });
    expect(forged.status).toBe(200);
    expect(forged.headers["x-request-id"]).toBe("client-req-1");
    const first = up.requests[0]?.headers ?? {};
    expect(first["x-tenant-id"]).toBe("acme");
    expect(first["x-user-id"]).toBe("alice@example.com");
    expect(first.authorization).toBe(`Bearer ${token}`);
    expect(first["x-request-id"]).toBe("client-req-1");
    expect(first.traceparent).toBe(traceparent);
    expect(first.tracestate).toBe("vendor=abc");
    expect(first["x-forwarded-for"]).toBe("127.0.0.1");
    expect(first.cookie).toBeUndefined();

    // No (or an invalid) traceparent: the gateway starts a trace and a request id of its own.
    await request(`${gw.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
    await request(`${gw.url}/api/whoami`, {
      headers: {
        authorization: `Bearer ${token}`,
        traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        tracestate: "x=1",
      },
    });
    for (const seen of up.requests.slice(1)) {
      expect(seen.headers.traceparent).toMatch(TRACEPARENT);
      expect(seen.headers.traceparent).not.toContain("00000000000000000000000000000000");
      expect(seen.headers.tracestate).toBeUndefined();
      expect(seen.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(seen.headers["x-tenant-id"]).toBe("acme");
    }
    expect(up.requests[1]?.headers.traceparent).not.toBe(up.requests[2]?.headers.traceparent);
  });

  it("drops identity headers spelled with underscores and forged forwarding overrides, unless TRUST_PROXY vouches", async () => {
    const up = await upstream();
    const overrides = {
      "x-real-ip": "10.6.6.6",
      "true-client-ip": "10.6.6.6",
      "x-client-ip": "10.6.6.6",
      "x-forwarded-port": "1",
      "x-forwarded-prefix": "/admin",
      "x-forwarded-user": "root",
      "x-original-url": "/admin/delete",
      "x-rewrite-url": "/admin/delete",
    };
    const smuggled = {
      x_tenant_id: "tB",
      x_user_id: "admin",
      X_Request_Id: "forged",
      x_forwarded_for: "10.6.6.6",
      "x-custom_header": "kept",
    };
    const direct = await gateway({ UPSTREAM_URL: up.url });
    const token = await direct.token({ sub: "alice", tenantId: "tA" });
    const res = await request(`${direct.url}/api/whoami`, {
      headers: { authorization: `Bearer ${token}`, ...overrides, ...smuggled },
    });
    expect(res.status).toBe(200);
    const seen = up.requests[0]?.headers ?? {};
    for (const name of [...Object.keys(overrides), "x_tenant_id", "x_user_id", "x_request_id", "x_forwarded_for"]) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen["x-tenant-id"]).toBe("tA");
    expect(seen["x-user-id"]).toBe("alice");
    expect(seen["x-custom_header"]).toBe("kept");

    const behindProxy = await gateway({ UPSTREAM_URL: up.url, TRUST_PROXY: "1" });
    await request(`${behindProxy.url}/api/whoami`, {
      headers: { authorization: `Bearer ${token}`, ...overrides, ...smuggled },
    });
    const trusted = up.requests[1]?.headers ?? {};
    expect(trusted["x-real-ip"]).toBe("10.6.6.6");
    expect(trusted["x-original-url"]).toBe("/admin/delete");
    expect(trusted.x_tenant_id).toBeUndefined();
    expect(trusted["x-tenant-id"]).toBe("tA");
  });

  it("never forwards hop-by-hop headers, nor those the client lists in Connection", async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, {
        "content-type": "text/plain",
        "keep-alive": "timeout=99",
        "x-upstream-hop": "drop me",
        connection: "x-upstream-hop",
        "x-kept": "1",
      });
      res.end("ok");
    });
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const res = await request(`${gw.url}/api/hop`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await gw.token()}`,
        connection: "keep-alive, x-hop-secret",
        "x-hop-secret": "1",
        "keep-alive": "timeout=5",
        "proxy-connection": "keep-alive",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        te: "trailers",
        trailer: "x-checksum",
        "x-end-to-end": "kept",
        "content-type": "text/plain",
      },
      // chunked: node:http refuses a Trailer header next to a Content-Length
      body: Readable.from([Buffer.from("hel"), Buffer.from("lo")]),
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe("ok");
    expect(res.headers["x-upstream-hop"]).toBeUndefined();
    expect(res.headers["x-kept"]).toBe("1");
    const seen = up.requests[0]?.headers ?? {};
    for (const name of [
      "x-hop-secret",
      "keep-alive",
      "proxy-connection",
      "proxy-authorization",
      "te",
      "trailer",
      "upgrade",
    ]) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen.connection ?? "keep-alive").toBe("keep-alive");
    expect(seen["x-end-to-end"]).toBe("kept");
    expect(up.requests[0]?.body.toString()).toBe("hello");
  });

  it("answers 401 without a valid access token, and nothing reaches the upstream", async () => {
    const up = await upstream();
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const streamToken = json(
      await request(`${gw.url}/events/token`, {
        method: "POST",
        headers: { authorization: `Bearer ${await gw.token()}` },
      }),
    ).token as string;
    const attempts: [string, http.OutgoingHttpHeaders][] = [
      ["/api/todos", {}],
      ["/api/todos", { authorization: "Bearer not-a-jwt" }],
      ["/api/todos", { authorization: `Bearer ${await gw.token({ expiresIn: -60 })}` }],
      ["/api/todos", { authorization: `Bearer ${await gw.token({ secret: "another-secret-0123456789abcdef-0123" })}` }],
      ["/api/todos", { authorization: `Bearer ${streamToken}` }],
      [`/api/todos?access_token=${await gw.token()}`, {}],
    ];
    for (const [path, headers] of attempts) {
      const res = await request(`${gw.url}${path}`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: "{}",
      });
      expect(res.status, path).toBe(401);
      expectErrorShape(json(res), 401);
    }
    expect(up.requests).toHaveLength(0);
  });

  it("answers CORS preflights itself: no token needed, nothing forwarded", async () => {
    const up = await upstream();
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const res = await request(`${gw.url}/api/todos`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, idempotency-key, traceparent",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:3000");
    expect(res.headers["access-control-allow-headers"]).toContain("traceparent");
    expect(up.requests).toHaveLength(0);
  });

  it("answers 503 when no upstream is configured", async () => {
    const gw = await gateway({});
    const res = await request(`${gw.url}/api/todos`, { headers: { authorization: `Bearer ${await gw.token()}` } });
    expect(res.status).toBe(503);
    expectErrorShape(json(res), 503);
  });

  it("answers 502 when the upstream is unreachable, without naming it", async () => {
    const port = await closedPort();
    const gw = await gateway({ UPSTREAM_URL: `http://127.0.0.1:${port}` });
    const res = await request(`${gw.url}/api/todos`, { headers: { authorization: `Bearer ${await gw.token()}` } });
    expect(res.status).toBe(502);
    const body = json(res);
    expectErrorShape(body, 502);
    expect(res.body).not.toContain("127.0.0.1");
    expect(res.body).not.toContain(String(port));
    expect(res.body).not.toMatch(/ECONNREFUSED|at .*\.js/);

    // with a request body that was read before the upstream failed, too
    const post = await request(`${gw.url}/api/todos`, {
      method: "POST",
      headers: { authorization: `Bearer ${await gw.token()}`, "content-type": "application/json" },
      body: JSON.stringify({ title: "x" }),
    });
    expect(post.status).toBe(502);
    expectErrorShape(json(post), 502);
  });

  it("answers 504 when the upstream is slower than UPSTREAM_TIMEOUT_MS, without naming it", async () => {
    const up = await upstream(() => {
      // never answers
    });
    const gw = await gateway({ UPSTREAM_URL: up.url, UPSTREAM_TIMEOUT_MS: "300" });
    const res = await request(`${gw.url}/api/slow`, { headers: { authorization: `Bearer ${await gw.token()}` } });
    expect(res.status).toBe(504);
    expectErrorShape(json(res), 504);
    expect(res.body).not.toContain("127.0.0.1");
    expect(res.body).not.toContain(new URL(up.url).port);
    expect(up.requests).toHaveLength(1);
  });

  it("refuses bodies over PROXY_BODY_LIMIT_BYTES with 413, declared or chunked", async () => {
    const up = await upstream();
    const gw = await gateway({ UPSTREAM_URL: up.url, PROXY_BODY_LIMIT_BYTES: "1000" });
    const headers = { authorization: `Bearer ${await gw.token()}`, "content-type": "application/octet-stream" };
    const declared = await request(`${gw.url}/api/upload`, { method: "POST", headers, body: randomBytes(1001) });
    expect(declared.status).toBe(413);
    expectErrorShape(json(declared), 413);
    expect(up.requests).toHaveLength(0);

    const chunked = await request(`${gw.url}/api/upload`, {
      method: "POST",
      headers,
      body: Readable.from([randomBytes(600), randomBytes(600)]),
    });
    expect(chunked.status).toBe(413);
    expectErrorShape(json(chunked), 413);

    const fits = await request(`${gw.url}/api/upload`, { method: "POST", headers, body: randomBytes(1000) });
    expect(fits.status).toBe(200);
  });

  it("passes upstream errors, HEAD and 204 through as they are, and does not retry", async () => {
    const up = await upstream((req, res) => {
      if (req.url === "/unavailable")
        res.writeHead(503, { "retry-after": "7", "content-type": "text/plain" }).end("busy");
      else if (req.method === "HEAD") res.writeHead(200, { "content-length": "1234", "x-head": "1" }).end();
      else res.writeHead(204).end();
    });
    const gw = await gateway({ UPSTREAM_URL: up.url });
    const headers = { authorization: `Bearer ${await gw.token()}` };
    const busy = await request(`${gw.url}/api/unavailable`, { headers });
    expect(busy.status).toBe(503);
    expect(busy.headers["retry-after"]).toBe("7");
    expect(busy.body).toBe("busy");
    expect(up.requests).toHaveLength(1);

    const head = await request(`${gw.url}/api/thing`, { method: "HEAD", headers });
    expect(head.status).toBe(200);
    expect(head.headers["x-head"]).toBe("1");
    expect(head.headers["content-length"]).toBe("1234");
    const deleted = await request(`${gw.url}/api/thing`, { method: "DELETE", headers });
    expect(deleted.status).toBe(204);
    expect(deleted.bytes.length).toBe(0);
  });

  it("closes its upstream connections on app.close()", async () => {
    const handles = trackHandles();
    const up = await upstream();
    const gw = await startGateway({ UPSTREAM_URL: up.url });
    const headers = { authorization: `Bearer ${await gw.token()}` };
    await Promise.all([1, 2, 3].map((i) => request(`${gw.url}/api/items/${i}`, { headers })));
    await fetch(`${gw.url}/trpc/proxy.whoami`, { headers }).then((res) => res.arrayBuffer());
    await gw.close();
    await expect.poll(() => handles.open(), { timeout: 3000 }).toEqual([]);
    handles.stop();
  });
});
