import { generateKeyPair } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAccessTokenVerifier } from "../src/auth/access-token.js";
import { testConfig } from "./helpers/config.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { type JwksServer, type SigningKey, signingKey, startJwksServer } from "./helpers/jwks-server.js";
import { SseClient } from "./helpers/sse-client.js";
import { accessToken, decodePayload, nowS, signToken, unsignedToken } from "./helpers/tokens.js";

const OTHER_SECRET = "another-secret-that-is-long-enough-0123456789";
const encoder = new TextEncoder();

type Reply = { status: number; body: unknown; requestId: string | null; headers: Headers };

async function postToken(url: string, authorization?: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${url}/events/token`, {
    method: "POST",
    headers: { ...(authorization === undefined ? {} : { authorization }), ...headers },
  });
  return {
    status: res.status,
    body: await res.json(),
    requestId: res.headers.get("x-request-id"),
    headers: res.headers,
  };
}

function expectUnauthorized(reply: Reply, message = "invalid or missing credentials"): void {
  expect(reply.status).toBe(401);
  expect(reply.requestId).toMatch(/\S/);
  expect(reply.body).toEqual({ statusCode: 401, error: "Unauthorized", message, requestId: reply.requestId });
}

/** `auth_failures_total` from `GET /metrics`, by reason. */
/** The reasons counted so far (every known reason is exported, at 0 until it happens). */
async function authFailures(url: string): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  expect(text).toContain("# TYPE auth_failures_total counter");
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^auth_failures_total\{reason="([^"]+)"\} (\d+)$/gm)) {
    if (Number(match[2]) > 0) counts[match[1] as string] = Number(match[2]);
  }
  return counts;
}

/** Checks the request is rejected with 401 and counted under `reason` (which development names). */
async function expectRejected(url: string, token: string, reason: string): Promise<void> {
  const before = await authFailures(url);
  expectUnauthorized(await postToken(url, `Bearer ${token}`), `invalid or missing credentials (${reason})`);
  const after = await authFailures(url);
  expect({ reason, count: after[reason] ?? 0 }).toEqual({ reason, count: (before[reason] ?? 0) + 1 });
}

async function streamTokenFor(url: string, token: string): Promise<Record<string, unknown>> {
  const reply = await postToken(url, `Bearer ${token}`);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return decodePayload((reply.body as { token: string }).token);
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: "u1", tenantId: "t1", iat: nowS(), exp: nowS() + 600, ...extra };
}

// ---------------------------------------------------------------------------------------------

describe("POST /events/token with HS256 access tokens", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(() => gw.close());

  it("trades a valid access token for a stream token", async () => {
    const reply = await postToken(gw.url, `Bearer ${await accessToken({ roles: ["admin"] })}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ token: expect.any(String), expiresIn: 300 });
    const payload = decodePayload((reply.body as { token: string }).token);
    expect(payload).toMatchObject({ sub: "u1", tenantId: "t1", roles: ["admin"], aud: "circl-bff:stream" });
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
  });

  it("rejects a missing or malformed Authorization header", async () => {
    expectUnauthorized(await postToken(gw.url), "missing bearer access token");
    expectUnauthorized(await postToken(gw.url, "Basic dTE6cGFzcw=="), "Authorization must be 'Bearer <token>'");
    expectUnauthorized(await postToken(gw.url, "Bearer not-a-jwt"), "invalid or missing credentials (malformed)");
  });

  it("rejects an expired token", async () => {
    await expectRejected(gw.url, await accessToken({ expiresIn: -60 }), "expired");
  });

  it("rejects a token that is not valid yet (nbf in the future)", async () => {
    await expectRejected(gw.url, await accessToken({ notBefore: 300 }), "claim_nbf");
  });

  it("rejects alg none, however it is spelled", async () => {
    await expectRejected(gw.url, unsignedToken(claims()), "algorithm");
    await expectRejected(gw.url, unsignedToken(claims(), { alg: "none", typ: "JWT" }), "algorithm");
    await expectRejected(gw.url, unsignedToken(claims(), { alg: "NONE" }), "algorithm");
    // A none header with a signature that would be valid for HS256 over the same input.
    const signed = await accessToken();
    const [, payload, signature] = signed.split(".");
    const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    await expectRejected(gw.url, `${header}.${payload}.${signature}`, "algorithm");
  });

  it("rejects a token signed with another key", async () => {
    await expectRejected(gw.url, await accessToken({ secret: OTHER_SECRET }), "signature");
  });

  it("rejects an HMAC algorithm other than HS256, even with the right key", async () => {
    const token = await signToken(claims(), encoder.encode("test-jwt-secret-0123456789abcdef-0123456789"), {
      alg: "HS512",
    });
    await expectRejected(gw.url, token, "algorithm");
  });

  it("rejects RS256 tokens when no JWKS_URL is configured", async () => {
    const key = await signingKey("RS256", "k1");
    await expectRejected(gw.url, await key.sign(claims()), "algorithm");
  });

  it("rejects a token without sub", async () => {
    await expectRejected(gw.url, await accessToken({ sub: "" }), "claim_sub");
  });

  it("rejects a token without a usable tenant", async () => {
    await expectRejected(gw.url, await accessToken({ extra: { tenantId: undefined } }), "claim_tenant");
    await expectRejected(gw.url, await accessToken({ tenantId: "" }), "claim_tenant");
    await expectRejected(gw.url, await accessToken({ tenantId: "x".repeat(257) }), "claim_tenant");
    await expectRejected(gw.url, await accessToken({ extra: { tenantId: { id: "t1" } } }), "claim_tenant");
  });

  it("accepts ids of up to 256 characters, emails included", async () => {
    const payload = await streamTokenFor(
      gw.url,
      await accessToken({ sub: "a.b@example.com", tenantId: "t".repeat(256) }),
    );
    expect(payload).toMatchObject({ sub: "a.b@example.com", tenantId: "t".repeat(256) });
  });

  it("rejects a token without exp", async () => {
    const token = await signToken(
      { sub: "u1", tenantId: "t1", iat: nowS() },
      encoder.encode("test-jwt-secret-0123456789abcdef-0123456789"),
    );
    expect(decodePayload(token)).not.toHaveProperty("exp");
    await expectRejected(gw.url, token, "claim_exp");
  });

  it("rejects roles that are not an array", async () => {
    await expectRejected(gw.url, await accessToken({ extra: { roles: "admin" } }), "claim_roles");
  });

  it("takes the tenant only from the token, never from a header or the query", async () => {
    const reply = await postToken(gw.url, `Bearer ${await accessToken()}`, { "x-tenant-id": "t2" });
    expect(reply.status).toBe(200);
    expect(decodePayload((reply.body as { token: string }).token)).toMatchObject({ sub: "u1", tenantId: "t1" });
    const res = await fetch(`${gw.url}/events/token?tenantId=t2&tenant_id=t2`, {
      method: "POST",
      headers: { authorization: `Bearer ${await accessToken()}`, "x-tenant-id": "t2" },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string };
    expect(decodePayload(body.token)).toMatchObject({ tenantId: "t1" });
  });

  it("does not let x-tenant-id move a stream or a published event into another tenant", async () => {
    const t1 = await SseClient.open(`${gw.url}/events/stream`, {
      authorization: `Bearer ${await accessToken({ sub: "u1", tenantId: "t1" })}`,
      "x-tenant-id": "t2",
    });
    const t2 = await SseClient.open(`${gw.url}/events/stream`, {
      authorization: `Bearer ${await accessToken({ sub: "u2", tenantId: "t2" })}`,
    });
    try {
      expect([t1.status, t2.status]).toEqual([200, 200]);
      await Promise.all([t1.waitForEvent("connected"), t2.waitForEvent("connected")]);
      const res = await fetch(`${gw.url}/trpc/events.publish`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${await accessToken({ sub: "u1", tenantId: "t1", roles: ["admin"] })}`,
          "content-type": "application/json",
          "x-tenant-id": "t2",
        },
        body: JSON.stringify({ type: "spoof", data: { n: 1 }, to: "tenant" }),
      });
      expect(res.status).toBe(200);
      const spoofId = ((await res.json()) as { result: { data: { id: string } } }).result.data.id;
      const own = await gw.publish(await accessToken({ sub: "u2", tenantId: "t2", roles: ["admin"] }), {
        type: "own",
        data: { n: 2 },
        to: "tenant",
      });
      await t1.waitForData(1);
      await t2.waitFor(() => t2.envelopes().some((e) => e.id === own.id), 5000, "own event");
      expect(t1.envelopes()).toEqual([expect.objectContaining({ id: spoofId, type: "spoof", tenantId: "t1" })]);
      expect(t2.envelopes().map((e) => e.id)).toEqual([own.id]);
    } finally {
      t1.close();
      t2.close();
    }
  });

  it("does not accept a stream token as an access token", async () => {
    const { token } = (await postToken(gw.url, `Bearer ${await accessToken()}`)).body as { token: string };
    expect(decodePayload(token).aud).toBe("circl-bff:stream");
    await expectRejected(gw.url, token, "signature");
  });

  it("does not accept an access token in the stream URL", async () => {
    const before = await authFailures(gw.url);
    const client = await SseClient.open(`${gw.url}/events/stream?token=${await accessToken()}`);
    expect(client.status).toBe(401);
    const body = JSON.parse(client.body) as Record<string, unknown>;
    expect(body).toEqual({
      statusCode: 401,
      error: "Unauthorized",
      message: "only stream tokens are accepted in the URL (POST /events/token)",
      requestId: client.res.headers["x-request-id"],
    });
    expect((await authFailures(gw.url)).access_token_in_url).toBe((before.access_token_in_url ?? 0) + 1);
  });

  it("accepts its own stream token in the stream URL", async () => {
    const { token } = (await postToken(gw.url, `Bearer ${await accessToken()}`)).body as { token: string };
    const client = await SseClient.open(`${gw.url}/events/stream?token=${token}`);
    try {
      expect(client.status).toBe(200);
      await client.waitForEvent("connected");
    } finally {
      client.close();
    }
  });
});

describe("defence in depth: the same secret for access and stream tokens", () => {
  it("still refuses a stream token as an access token", async () => {
    const gw = await startGateway({ STREAM_TOKEN_SECRET: "test-jwt-secret-0123456789abcdef-0123456789" });
    try {
      const { token } = (await postToken(gw.url, `Bearer ${await accessToken()}`)).body as { token: string };
      await expectRejected(gw.url, token, "stream_token_as_access_token");
    } finally {
      await gw.close();
    }
  });
});

describe("JWT_ISSUER / JWT_AUDIENCE", () => {
  const issuer = "https://idp.example.test/";
  const audience = "circl-api";
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
  });
  afterAll(() => gw.close());

  it("accepts the configured issuer and audience (also inside an audience array)", async () => {
    expect((await postToken(gw.url, `Bearer ${await accessToken({ issuer, audience })}`)).status).toBe(200);
    const multi = await accessToken({ issuer, extra: { aud: ["other", audience] } });
    expect((await postToken(gw.url, `Bearer ${multi}`)).status).toBe(200);
  });

  it("rejects a wrong or missing iss", async () => {
    await expectRejected(gw.url, await accessToken({ issuer: "https://evil.example.test/", audience }), "claim_iss");
    await expectRejected(gw.url, await accessToken({ audience }), "claim_iss");
  });

  it("rejects a wrong or missing aud", async () => {
    await expectRejected(gw.url, await accessToken({ issuer, audience: "other-api" }), "claim_aud");
    await expectRejected(gw.url, await accessToken({ issuer }), "claim_aud");
    await expectRejected(gw.url, await accessToken({ issuer, audience: "circl-bff:stream" }), "claim_aud");
  });
});

describe("dotted JWT_TENANT_CLAIM / JWT_ROLES_CLAIM", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ JWT_TENANT_CLAIM: "app_metadata.tenant_id", JWT_ROLES_CLAIM: "realm_access.roles" });
  });
  afterAll(() => gw.close());

  it("reads nested claims (and ignores the top-level defaults)", async () => {
    const token = await accessToken({
      tenantId: "top-level-tenant",
      roles: ["top-level-role"],
      extra: { app_metadata: { tenant_id: "acme" }, realm_access: { roles: ["admin", "viewer"] } },
    });
    const payload = await streamTokenFor(gw.url, token);
    expect(payload).toMatchObject({ sub: "u1", tenantId: "acme", roles: ["admin", "viewer"] });
  });

  it("gives no roles when the roles claim is absent", async () => {
    const payload = await streamTokenFor(gw.url, await accessToken({ extra: { app_metadata: { tenant_id: "acme" } } }));
    expect(payload).toMatchObject({ tenantId: "acme", roles: [] });
  });

  it("rejects a token whose nested tenant claim is missing", async () => {
    await expectRejected(gw.url, await accessToken({ tenantId: "t1" }), "claim_tenant");
    await expectRejected(gw.url, await accessToken({ extra: { app_metadata: { other: "acme" } } }), "claim_tenant");
    await expectRejected(gw.url, await accessToken({ extra: { app_metadata: "acme" } }), "claim_tenant");
  });
});

describe("auth_failures_total", () => {
  it("counts each rejection by reason on GET /metrics", async () => {
    const gw = await startGateway();
    try {
      await postToken(gw.url);
      await postToken(gw.url, `Bearer ${await accessToken({ expiresIn: -10 })}`);
      await postToken(gw.url, `Bearer ${await accessToken({ expiresIn: -10 })}`);
      await postToken(gw.url, `Bearer ${await accessToken({ secret: OTHER_SECRET })}`);
      await postToken(gw.url, `Bearer ${unsignedToken(claims())}`);
      expect((await postToken(gw.url, `Bearer ${await accessToken()}`)).status).toBe(200);
      expect(await authFailures(gw.url)).toEqual({ missing: 1, expired: 2, signature: 1, algorithm: 1 });
    } finally {
      await gw.close();
    }
  });
});

describe("access tokens from a JWKS endpoint", () => {
  let rsa: SigningKey;
  let ec: SigningKey;
  let stranger: SigningKey;
  let jwks: JwksServer;
  const gateways: Gateway[] = [];

  async function jwksGateway(env: Record<string, string> = {}): Promise<Gateway> {
    const gw = await startGateway({ JWT_SECRET: "", JWKS_URL: jwks.url, ...env });
    gateways.push(gw);
    return gw;
  }

  beforeAll(async () => {
    [rsa, ec, stranger] = await Promise.all([
      signingKey("RS256", "rsa-1"),
      signingKey("ES256", "ec-1"),
      signingKey("RS256", "stranger"),
    ]);
    jwks = await startJwksServer([rsa.jwk, ec.jwk]);
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gw) => gw.close()));
    jwks.keys = [rsa.jwk, ec.jwk];
    jwks.requests = 0;
  });
  afterAll(() => jwks.close());

  it("accepts RS256 and ES256 tokens signed by published keys", async () => {
    const gw = await jwksGateway();
    expect(await streamTokenFor(gw.url, await rsa.sign(claims({ sub: "rsa-user" })))).toMatchObject({
      sub: "rsa-user",
      tenantId: "t1",
    });
    expect(await streamTokenFor(gw.url, await ec.sign(claims({ sub: "ec-user", tenantId: "t9" })))).toMatchObject({
      sub: "ec-user",
      tenantId: "t9",
    });
  });

  it("applies the same claim rules to JWKS tokens", async () => {
    const gw = await jwksGateway();
    await expectRejected(gw.url, await rsa.sign(claims({ exp: nowS() - 60 })), "expired");
    await expectRejected(gw.url, await ec.sign(claims({ sub: undefined })), "claim_sub");
    const { exp: _exp, ...noExp } = claims();
    await expectRejected(gw.url, await rsa.sign(noExp), "claim_exp");
  });

  it("rejects an HS256 token signed with the RSA public key PEM (algorithm confusion)", async () => {
    const gw = await jwksGateway();
    const forged = await signToken(claims(), encoder.encode(rsa.publicKeyPem), { alg: "HS256", kid: rsa.kid });
    await expectRejected(gw.url, forged, "algorithm");
    // Also when JWT_SECRET is configured next to JWKS_URL: the PEM is not the HMAC key.
    const both = await jwksGateway({ JWT_SECRET: "test-jwt-secret-0123456789abcdef-0123456789" });
    await expectRejected(both.url, forged, "signature");
  });

  it("rejects alg none and RSA algorithms outside the allow-list", async () => {
    const gw = await jwksGateway();
    await expectRejected(gw.url, unsignedToken(claims(), { alg: "none", kid: rsa.kid }), "algorithm");
    const { privateKey } = await generateKeyPair("RS384");
    await expectRejected(gw.url, await signToken(claims(), privateKey, { alg: "RS384", kid: rsa.kid }), "algorithm");
  });

  it("rejects a token whose kid is not in the set, and one signed by another key under a known kid", async () => {
    const gw = await jwksGateway();
    await expectRejected(gw.url, await stranger.sign(claims()), "unknown_key");
    await expectRejected(gw.url, await stranger.sign(claims(), rsa.kid), "signature");
  });

  it("fetches the key set once for many verifications and does not refetch for every unknown kid", async () => {
    const gw = await jwksGateway();
    const good = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? rsa : ec).sign(claims({ sub: `u${i}` }))),
    );
    const replies = await Promise.all(good.map((token) => postToken(gw.url, `Bearer ${token}`)));
    expect(replies.map((r) => r.status)).toEqual(good.map(() => 200));
    const bogus = await Promise.all(Array.from({ length: 10 }, (_, i) => stranger.sign(claims(), `ghost-${i}`)));
    const rejected = await Promise.all(bogus.map((token) => postToken(gw.url, `Bearer ${token}`)));
    for (const reply of rejected) expectUnauthorized(reply, "invalid or missing credentials (unknown_key)");
    expect(jwks.requests).toBeGreaterThanOrEqual(1);
    expect(jwks.requests).toBeLessThanOrEqual(2);
  });

  it("answers 503 with Retry-After (could not verify), not 401 or 500, while the JWKS endpoint fails, without charging the client's budget", async () => {
    const gw = await startGateway({
      JWT_SECRET: "",
      JWKS_URL: jwks.url.replace("jwks.json", "missing.json"),
      RATE_LIMIT_IP_MAX: "20",
    });
    gateways.push(gw);
    const token = await rsa.sign(claims());
    // 2 × the token route's per-IP failure budget (20 / 10): an outage of the IdP locks nobody out.
    for (let i = 0; i < 4; i++) {
      const reply = await postToken(gw.url, `Bearer ${token}`);
      expect(reply.status).toBe(503);
      expect(reply.headers.get("retry-after")).toBe("5");
      expect(reply.body).toMatchObject({ statusCode: 503, message: "cannot verify credentials now, retry later" });
    }
  });

  it("keeps verifying with the last key set fetched while the JWKS endpoint is down past the cache age", async () => {
    const own = await startJwksServer([rsa.jwk]);
    const verify = createAccessTokenVerifier(testConfig({ JWT_SECRET: "", JWKS_URL: own.url }).jwt, {
      jwksCacheMaxAgeMs: 50,
      jwksCooldownMs: 0,
    });
    await expect(verify(await rsa.sign(claims()))).resolves.toMatchObject({ userId: "u1" });
    await own.close();
    // Past the cache age, with the endpoint gone: the key set fetched last still verifies.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(verify(await rsa.sign(claims({ sub: "later" })))).resolves.toMatchObject({ userId: "later" });
    // A key it never saw cannot be checked now: retryable, not a bad token.
    await expect(verify(await stranger.sign(claims()))).rejects.toMatchObject({ reason: "jwks_unavailable" });
    // A token signed by no key of the set is still refused for what it is.
    const forged = `${(await rsa.sign(claims())).split(".").slice(0, 2).join(".")}.${"A".repeat(342)}`;
    await expect(verify(forged)).rejects.toMatchObject({ reason: "signature" });
  });

  describe("key rotation (verifier with a short refetch cooldown)", () => {
    function verifier(jwksCooldownMs?: number) {
      return createAccessTokenVerifier(testConfig({ JWT_SECRET: "", JWKS_URL: jwks.url }).jwt, { jwksCooldownMs });
    }

    it("accepts a token signed with a newly published key", async () => {
      const verify = verifier(0);
      await expect(verify(await rsa.sign(claims()))).resolves.toMatchObject({ userId: "u1", tenantId: "t1" });
      expect(jwks.requests).toBe(1);

      const next = await signingKey("RS256", "rsa-2");
      jwks.keys = [next.jwk, ec.jwk];
      await expect(verify(await next.sign(claims({ sub: "after-rotation" })))).resolves.toMatchObject({
        userId: "after-rotation",
        via: "access",
      });
      expect(jwks.requests).toBe(2);

      // The retired key is gone from the set: its tokens are now rejected.
      await expect(verify(await rsa.sign(claims()))).rejects.toMatchObject({
        name: "AuthError",
        reason: "unknown_key",
      });
      // Known keys are served from the cache.
      const before = jwks.requests;
      for (let i = 0; i < 10; i++) await verify(await next.sign(claims()));
      expect(jwks.requests).toBe(before);
    });

    it("rejects an unknown kid after refetching", async () => {
      const verify = verifier(0);
      await expect(verify(await stranger.sign(claims()))).rejects.toMatchObject({
        name: "AuthError",
        reason: "unknown_key",
      });
      expect(jwks.requests).toBe(2); // initial load, then one refetch for the unknown kid
    });

    it("with the default cooldown, unknown kids do not refetch right after a fetch", async () => {
      const verify = verifier();
      await verify(await rsa.sign(claims()));
      const next = await signingKey("ES256", "ec-2");
      jwks.keys = [rsa.jwk, next.jwk];
      for (let i = 0; i < 5; i++) {
        await expect(verify(await next.sign(claims()))).rejects.toMatchObject({ reason: "unknown_key" });
      }
      expect(jwks.requests).toBe(1);
    });
  });
});
