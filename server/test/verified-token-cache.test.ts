import { describe, expect, it } from "vitest";
import { type AccessTokenVerifier, createAccessTokenVerifier } from "../src/auth/access-token.js";
import { AuthError } from "../src/auth/auth-error.js";
import { createAuthenticator } from "../src/auth/authenticator.js";
import { RevocationList } from "../src/auth/revocations.js";
import { createStreamTokens } from "../src/auth/stream-token.js";
import { cacheVerifiedTokens } from "../src/auth/verified-token-cache.js";
import { testConfig } from "./helpers/config.js";
import { accessToken } from "./helpers/tokens.js";

/** The real HS256 verifier, counting how often it is asked. */
function countingVerifier(): { verify: AccessTokenVerifier; calls: () => number } {
  const real = createAccessTokenVerifier(testConfig().jwt);
  let calls = 0;
  return {
    verify: (token) => {
      calls++;
      return real(token);
    },
    calls: () => calls,
  };
}

describe("verified token cache", () => {
  it("verifies a token once and answers the same identity afterwards", async () => {
    const counting = countingVerifier();
    const verify = cacheVerifiedTokens(counting.verify);
    const token = await accessToken({ sub: "alice", tenantId: "acme", roles: ["admin"] });
    const first = await verify(token);
    const second = await verify(token);
    expect(second).toEqual(first);
    expect(first).toMatchObject({ userId: "alice", tenantId: "acme", roles: ["admin"], via: "access" });
    expect(counting.calls()).toBe(1);
    await verify(await accessToken({ sub: "bob", tenantId: "acme" }));
    expect(counting.calls()).toBe(2);
  });

  it("serves a client's stream and its API calls from one verification, revocation still applying", async () => {
    const counting = countingVerifier();
    const revocations = new RevocationList(Date.now);
    const authenticator = createAuthenticator(
      cacheVerifiedTokens(counting.verify),
      createStreamTokens(testConfig().streamToken),
      revocations,
    );
    const token = await accessToken({ sub: "alice", tenantId: "acme" });
    expect(await authenticator.stream(`Bearer ${token}`, undefined)).toMatchObject({ userId: "alice" });
    expect(await authenticator.access(`Bearer ${token}`)).toMatchObject({ userId: "alice" });
    expect(await authenticator.stream(`Bearer ${token}`, undefined)).toMatchObject({ userId: "alice" });
    expect(counting.calls()).toBe(1);
    revocations.add({
      tenantId: "acme",
      userId: "alice",
      issuedBefore: Math.ceil(Date.now() / 1000) + 1,
      until: Date.now() + 60_000,
    });
    await expect(authenticator.access(`Bearer ${token}`)).rejects.toMatchObject({ reason: "revoked" });
  });

  it("never caches a failure: a bad token is rejected every time", async () => {
    const counting = countingVerifier();
    const verify = cacheVerifiedTokens(counting.verify);
    const forged = await accessToken({ sub: "mallory", secret: "another-secret-0123456789abcdef-0123456789" });
    await expect(verify(forged)).rejects.toBeInstanceOf(AuthError);
    await expect(verify(forged)).rejects.toBeInstanceOf(AuthError);
    expect(counting.calls()).toBe(2);
  });

  it("does not answer from the cache at or after the token's exp", async () => {
    const counting = countingVerifier();
    const verify = cacheVerifiedTokens(counting.verify);
    // exp is in whole seconds: a token that expires within the current second is stale at once.
    const token = await accessToken({ sub: "alice", expiresIn: 1 });
    await verify(token);
    const exp = (await verify(token)).exp;
    expect(counting.calls()).toBe(1);
    await expect.poll(() => Date.now() >= exp * 1000, { timeout: 3000, interval: 50 }).toBe(true);
    await expect(verify(token)).rejects.toMatchObject({ name: "AuthError" });
    expect(counting.calls()).toBe(2);
  });

  it("re-verifies after maxAgeMs and stays within maxEntries", async () => {
    const counting = countingVerifier();
    const verify = cacheVerifiedTokens(counting.verify, { maxAgeMs: 0, maxEntries: 1 });
    const token = await accessToken({ sub: "alice" });
    await verify(token);
    await verify(token);
    expect(counting.calls()).toBe(2);
    const bounded = cacheVerifiedTokens(counting.verify, { maxEntries: 1 });
    const a = await accessToken({ sub: "a" });
    const b = await accessToken({ sub: "b" });
    await bounded(a);
    await bounded(b); // evicts a
    await bounded(a);
    expect(counting.calls()).toBe(5);
  });
});
