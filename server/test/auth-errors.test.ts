import Fastify from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../src/auth/auth-error.js";
import { registerErrorHandling } from "../src/http/error-handler.js";
import type { RateLimits } from "../src/http/rate-limits.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { accessToken } from "./helpers/tokens.js";

const GENERIC = "invalid or missing credentials";
const OTHER_SECRET = "another-secret-that-is-long-enough-0123456789";

type Answer = { status: number; challenge: string | null; message: unknown };

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const body = (await res.json()) as { message?: unknown; error?: { message?: unknown } };
  return {
    status: res.status,
    challenge: res.headers.get("www-authenticate"),
    message: body.message ?? body.error?.message,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("401 answers in development", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ METRICS_TOKEN: "metrics-token-0123456789" });
  });
  afterAll(() => gw?.close());

  it("a missing credential gets `WWW-Authenticate: Bearer` without an error code (RFC 6750)", async () => {
    expect(await call(`${gw.url}/events/token`, { method: "POST" })).toEqual({
      status: 401,
      challenge: "Bearer",
      message: "missing bearer access token",
    });
    expect(await call(`${gw.url}/events/stream`)).toEqual({
      status: 401,
      challenge: "Bearer",
      message: "missing bearer token or stream token",
    });
  });

  it('a failed token gets error="invalid_token" and the reason in the message', async () => {
    const cases: [string, string][] = [
      [await accessToken({ expiresIn: -60 }), "expired"],
      [await accessToken({ secret: OTHER_SECRET }), "signature"],
      [await accessToken({ tenantId: "" }), "claim_tenant"],
      ["not-a-jwt", "malformed"],
    ];
    for (const [token, reason] of cases) {
      for (const [url, init] of [
        [`${gw.url}/events/token`, { method: "POST", headers: bearer(token) }],
        [`${gw.url}/events/stream`, { headers: bearer(token) }],
        [
          `${gw.url}/events/publish`,
          {
            method: "POST",
            headers: { ...bearer(token), "content-type": "application/json" },
            body: JSON.stringify({ type: "x", data: 1, to: "me" }),
          },
        ],
      ] as [string, RequestInit][]) {
        expect({ url, ...(await call(url, init)) }).toEqual({
          url,
          status: 401,
          challenge: 'Bearer error="invalid_token"',
          message: `${GENERIC} (${reason})`,
        });
      }
    }
  });

  it("a specific message stays as it is; an Authorization header of another scheme is invalid_request", async () => {
    expect(
      await call(`${gw.url}/events/token`, { method: "POST", headers: { authorization: "Basic dTE6cGFzcw==" } }),
    ).toEqual({
      status: 401,
      challenge: 'Bearer error="invalid_request"',
      message: "Authorization must be 'Bearer <token>'",
    });
    expect(await call(`${gw.url}/events/stream?token=${await accessToken()}`)).toEqual({
      status: 401,
      challenge: 'Bearer error="invalid_token"',
      message: "only stream tokens are accepted in the URL (POST /events/token)",
    });
  });

  it("tRPC calls carry the same challenge", async () => {
    const json = { "content-type": "application/json" };
    const anonymous = await call(`${gw.url}/trpc/auth.streamToken`, { method: "POST", headers: json });
    expect([anonymous.status, anonymous.challenge]).toEqual([401, "Bearer"]);
    const expired = await call(`${gw.url}/trpc/auth.streamToken`, {
      method: "POST",
      headers: { ...json, ...bearer(await accessToken({ expiresIn: -60 })) },
    });
    expect([expired.status, expired.challenge]).toEqual([401, 'Bearer error="invalid_token"']);
    const ok = await fetch(`${gw.url}/trpc/auth.streamToken`, {
      method: "POST",
      headers: { ...json, ...bearer(await gw.token()) },
    });
    expect([ok.status, ok.headers.get("www-authenticate")]).toEqual([200, null]);
  });

  it("/metrics with METRICS_TOKEN challenges a missing and a wrong token", async () => {
    expect((await fetch(`${gw.url}/metrics`)).headers.get("www-authenticate")).toBe("Bearer");
    const wrong = await fetch(`${gw.url}/metrics`, { headers: bearer("wrong") });
    expect([wrong.status, wrong.headers.get("www-authenticate")]).toEqual([401, 'Bearer error="invalid_token"']);
  });

  it("a successful call has no challenge", async () => {
    const res = await fetch(`${gw.url}/events/token`, { method: "POST", headers: bearer(await gw.token()) });
    expect([res.status, res.headers.get("www-authenticate")]).toEqual([200, null]);
  });
});

describe("401 answers in production", () => {
  const nodeEnv = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = nodeEnv;
  });

  it("keep the generic message (the reason is only logged and counted), with the challenge", async () => {
    // What main.ts does: config.production and the error handler both read NODE_ENV.
    process.env.NODE_ENV = "production";
    const gw = await startGateway({ NODE_ENV: "production", CORS_ORIGINS: "https://app.example.com" });
    try {
      for (const token of [await accessToken({ expiresIn: -60 }), await accessToken({ secret: OTHER_SECRET })]) {
        expect(await call(`${gw.url}/events/token`, { method: "POST", headers: bearer(token) })).toEqual({
          status: 401,
          challenge: 'Bearer error="invalid_token"',
          message: GENERIC,
        });
      }
      expect((await call(`${gw.url}/events/token`, { method: "POST" })).challenge).toBe("Bearer");
    } finally {
      await gw.close();
    }
  });

  it("registerErrorHandling's `production` option decides, whatever NODE_ENV says", async () => {
    for (const [production, message] of [
      [true, GENERIC],
      [false, `${GENERIC} (expired)`],
    ] as const) {
      const app = Fastify();
      registerErrorHandling(app, {} as RateLimits, { production });
      app.get("/", async () => {
        throw new AuthError("expired");
      });
      const res = await app.inject({ url: "/" });
      expect([res.statusCode, res.headers["www-authenticate"], res.json().message]).toEqual([
        401,
        'Bearer error="invalid_token"',
        message,
      ]);
      await app.close();
    }
  });
});
