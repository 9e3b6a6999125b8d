import fc from "fast-check";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { request } from "./helpers/http.js";
import { type JwksServer, type SigningKey, signingKey, startJwksServer } from "./helpers/jwks-server.js";
import { nowS, unsignedToken } from "./helpers/tokens.js";

const AUDIENCE = "circl-api";
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: "u1",
  tenantId: "t1",
  aud: AUDIENCE,
  iat: nowS(),
  exp: nowS() + 600,
  ...extra,
});

let gw: Gateway;
let jwks: JwksServer;
let attackerJwks: JwksServer;
let idp: SigningKey;
let attacker: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  idp = await signingKey("RS256", "idp-1");
  jwks = await startJwksServer([idp.jwk]);
  attacker = await generateKeyPair("RS256");
  attackerJwks = await startJwksServer([{ ...(await exportJWK(attacker.publicKey)), kid: "evil", alg: "RS256" }]);
  gw = await startGateway({ JWT_SECRET: "", JWKS_URL: jwks.url, JWT_AUDIENCE: AUDIENCE, RATE_LIMIT_IP_MAX: "100000" });
});
afterAll(async () => {
  await gw.close();
  await jwks.close();
  await attackerJwks.close();
});

const tokenRoute = (token: string) =>
  request(`${gw.url}/events/token`, { method: "POST", headers: { authorization: `Bearer ${token}` } });

function signWithHeader(header: Record<string, unknown>, key: CryptoKey | Uint8Array = attacker.privateKey) {
  return new SignJWT(claims()).setProtectedHeader({ alg: "RS256", ...header } as { alg: string }).sign(key);
}

describe("JWT attack table", () => {
  it("accepts the identity provider's genuine token (the control row)", async () => {
    expect((await tokenRoute(await idp.sign(claims()))).status).toBe(200);
  });

  const attacks: [string, () => Promise<string>][] = [
    ["alg none", async () => unsignedToken(claims(), { alg: "none", kid: "idp-1" })],
    [
      "HS256 signed with the JWKS public key",
      async () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: "HS256", kid: "idp-1" })
          .sign(new TextEncoder().encode(idp.publicKeyPem)),
    ],
    ["kid of an unknown key", () => signWithHeader({ kid: "idp-2" })],
    ["kid injection (path)", () => signWithHeader({ kid: "../../../../dev/null" })],
    ["kid injection (SQL)", () => signWithHeader({ kid: "' OR '1'='1" })],
    ["genuine kid, attacker's key", () => signWithHeader({ kid: "idp-1" })],
    ["jku pointing at the attacker's JWKS", () => signWithHeader({ kid: "evil", jku: attackerJwks.url })],
    ["x5u pointing at the attacker's server", () => signWithHeader({ kid: "evil", x5u: attackerJwks.url })],
    [
      "embedded jwk of the attacker",
      async () => signWithHeader({ jwk: { ...(await exportJWK(attacker.publicKey)), alg: "RS256" } }),
    ],
    ["token for another audience", () => idp.sign(claims({ aud: "someone-else" }))],
    ["token without audience", () => idp.sign(claims({ aud: undefined }))],
    ["expired", () => idp.sign(claims({ exp: nowS() - 5 }))],
  ];

  it.each(attacks)("refuses %s with 401", async (_name, make) => {
    const before = attackerJwks.requests;
    const res = await tokenRoute(await make());
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: 401, error: "Unauthorized" });
    // jku / x5u are never followed.
    expect(attackerJwks.requests).toBe(before);
  });

  it("refuses a 1 MB token at the HTTP parser (431) before any JWT work", async () => {
    const res = await tokenRoute(await idp.sign(claims({ pad: "x".repeat(1024 * 1024) })));
    expect(res.status).toBe(431);
    expect((await request(`${gw.url}/health`)).status).toBe(200);
  });

  it("refuses a stream token as an access token, and an access token as a URL stream token", async () => {
    const granted = await tokenRoute(await idp.sign(claims()));
    const { token: streamToken } = JSON.parse(granted.body) as { token: string };
    expect((await tokenRoute(streamToken)).status).toBe(401);
    const publish = await request(`${gw.url}/trpc/events.publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${streamToken}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "x", data: null, to: "me" }),
    });
    expect(publish.status).toBe(401);
    const accessInUrl = await request(`${gw.url}/events/stream?token=${await idp.sign(claims())}`);
    expect(accessInUrl.status).toBe(401);
  });
});

describe("garbage as credentials", () => {
  const printable = fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 400,
  });

  it("random strings as access tokens always give 401, never 500", async () => {
    await fc.assert(
      fc.asyncProperty(printable, async (token) => {
        const res = await tokenRoute(token);
        expect(res.status).toBe(401);
      }),
      { numRuns: 300 },
    );
  });

  it("mutated real tokens always give 401, never 500", async () => {
    const genuine = await idp.sign(claims());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(genuine.length - 1), fc.constantFrom(..."ABCxyz019-_.=+/")), {
          minLength: 1,
          maxLength: 4,
        }),
        async (edits) => {
          const chars = [...genuine];
          for (const [at, char] of edits) chars[at] = char;
          const mutated = chars.join("");
          // Some edits change no bytes (the unused low bits of a segment's last base64url
          // character): such a token is still the genuine one, and rightly accepted.
          const bytes = (token: string) =>
            token.split(".").map((part) => Buffer.from(part, "base64url").toString("hex"));
          fc.pre(bytes(mutated).join(".") !== bytes(genuine).join("."));
          const res = await tokenRoute(mutated);
          expect(res.status).toBe(401);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("random bytes in the stream URL token give 401 (or 400 for an invalid query), never 500", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const res = await request(
          `${gw.url}/events/stream?token=${encodeURIComponent(Buffer.from(bytes).toString("latin1"))}`,
        );
        expect([400, 401]).toContain(res.status);
      }),
      { numRuns: 200 },
    );
  });
});
