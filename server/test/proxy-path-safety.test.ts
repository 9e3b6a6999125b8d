import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkProxyPath, inspectSegment, PLAIN_SEGMENT } from "../src/proxy/path-safety.js";
import { type Gateway, startGateway } from "./helpers/gateway.js";
import { RecordingUpstream, rawRequest } from "./helpers/recording-upstream.js";

/** Request targets sent byte for byte (no client-side normalisation); each must be 400 and reach nothing. */
const ATTACKS: [string, string][] = [
  ["dot-dot segment", "/api/../secret"],
  ["dot segment", "/api/./todos"],
  ["climbing out twice", "/api/todos/../../admin"],
  ["trailing dot-dot", "/api/todos/.."],
  ["encoded dot-dot", "/api/%2e%2e/secret"],
  ["encoded dot-dot, upper case", "/api/%2E%2E/secret"],
  ["half-encoded dot-dot", "/api/.%2e/secret"],
  ["half-encoded dot-dot, other half", "/api/%2E./secret"],
  ["encoded dot", "/api/%2e/todos"],
  ["double-encoded dot-dot", "/api/%252e%252e/secret"],
  ["triple-encoded dot-dot", "/api/%25252e%25252E/secret"],
  ["encoded percent and digits", "/api/%25%32%65%25%32%65/secret"],
  ["encoded slash", "/api/todos%2f..%2fadmin"],
  ["encoded slash, upper case", "/api/todos%2F..%2Fadmin"],
  ["double-encoded slash", "/api/todos%252f..%252fadmin"],
  ["encoded dot-dot-slash sequence", "/api/todos/%2e%2e%2f%2e%2e%2fadmin"],
  ["encoded backslash", "/api/..%5csecret"],
  ["encoded backslash, upper case", "/api/todos%5C..%5Cadmin"],
  ["raw backslash", "/api/..\\secret"],
  ["raw backslashes around a segment", "/api/todos\\..\\admin"],
  ["protocol-relative host", "/api//evil.example/steal"],
  ["empty segment", "/api/todos//admin"],
  ["absolute URL in the path", "/api/http://evil.example/steal"],
  ["absolute URL with encoded slashes", "/api/https:%2f%2fevil.example/steal"],
  ["scheme in the first segment", "/api/http:evil.example"],
  ["javascript scheme", "/api/javascript:alert(1)"],
  ["encoded NUL", "/api/todos%00.json"],
  ["double-encoded NUL", "/api/todos%2500.json"],
  ["raw NUL", "/api/todos\u0000.json"],
  ["encoded CR LF", "/api/todos%0d%0aX-Injected:%20yes"],
  ["overlong UTF-8 dots (2 bytes)", "/api/%c0%ae%c0%ae/secret"],
  ["overlong UTF-8 dots (3 bytes)", "/api/%e0%80%ae%e0%80%ae/secret"],
  ["overlong UTF-8 slash", "/api/..%c0%afsecret"],
  ["invalid UTF-8", "/api/%ff%fe/secret"],
  ["IIS unicode escape", "/api/%u002e%u002e/secret"],
  ["full-width dots", "/api/%ef%bc%8e%ef%bc%8e/secret"],
  ["servlet path parameter on dot-dot", "/api/..;/secret"],
  ["malformed percent-encoding", "/api/todos%zz"],
  ["segment starting with dot-dot", "/api/..foo/bar"],
  ["segment ending with dot-dot", "/api/foo../bar"],
];

describe("path safety on /api/*", () => {
  let upstream: RecordingUpstream;
  let gw: Gateway;
  let authorization: string;

  beforeAll(async () => {
    upstream = await RecordingUpstream.start();
    gw = await startGateway({ UPSTREAM_URL: `${upstream.url}/base` });
    authorization = `Bearer ${await gw.token()}`;
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  it(`refuses all ${ATTACKS.length} traversal and SSRF attempts with 400, and the upstream records none`, async () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(25);
    const results = [];
    for (const [name, target] of ATTACKS) {
      const res = await rawRequest(gw.url, target, { authorization });
      results.push({ name, status: res.status });
      if (res.status === 400 && !target.includes("\u0000")) {
        // our own answer, in the contract's error shape (a raw NUL is refused by Node's parser first)
        expect(JSON.parse(res.body), name).toMatchObject({
          statusCode: 400,
          error: "Bad Request",
          message: expect.stringMatching(/^invalid path: /),
        });
      }
    }
    expect(results.filter((r) => r.status !== 400)).toEqual([]);
    expect(upstream.requests).toEqual([]);
  });

  it("refuses an absolute-form request target (the host must not come from the request line)", async () => {
    const res = await rawRequest(gw.url, "http://evil.example/api/steal", { authorization });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ message: "invalid path: not below the proxy prefix" });
    expect(upstream.requests).toEqual([]);
  });

  it("forwards legitimate paths byte for byte below the base path", async () => {
    const allowed = [
      ["/api/todos/", "/base/todos/"],
      ["/api/search/100%25", "/base/search/100%25"],
      ["/api/files/report.v2.pdf", "/base/files/report.v2.pdf"],
      ["/api/a..b/x", "/base/a..b/x"],
      ["/api/.hidden/x.", "/base/.hidden/x."],
      ["/api/caf%C3%A9/%E2%82%AC", "/base/caf%C3%A9/%E2%82%AC"],
      ["/api/v1/things/123:cancel", "/base/v1/things/123:cancel"],
      ["/api/a%2Db?x=%2e%2e%2f&y=..", "/base/a%2Db?x=%2e%2e%2f&y=.."],
    ];
    const before = upstream.requests.length;
    for (const [target] of allowed) {
      const res = await rawRequest(gw.url, target as string, { authorization });
      expect(res.status, target).toBe(200);
    }
    expect(upstream.requests.slice(before).map((r) => r.url)).toEqual(allowed.map(([, seen]) => seen));
  });
});

describe("checkProxyPath", () => {
  it("explains each refusal and splits path from query", () => {
    expect(checkProxyPath("/api/a/b?x=1", "/api")).toEqual({ ok: true, rest: "a/b", query: "?x=1" });
    expect(checkProxyPath("/api/", "/api")).toEqual({ ok: true, rest: "", query: "" });
    expect(checkProxyPath("/apix/a", "/api")).toMatchObject({ ok: false });
    expect(checkProxyPath("/api/%252e%252e", "/api")).toEqual({ ok: false, reason: "dot segment" });
    expect(checkProxyPath("/api/a%2fb", "/api")).toEqual({ ok: false, reason: "encoded slash" });
    expect(checkProxyPath("/api/%c0%ae", "/api")).toEqual({ ok: false, reason: "invalid UTF-8 in percent-encoding" });
    expect(checkProxyPath(`/api/${"%25".repeat(1)}${"25".repeat(6)}2e`, "/api")).toMatchObject({ ok: false });
  });
});

describe("the plain-segment fast path", () => {
  it("lets through only segments every check passes", () => {
    // Short strings over the characters that matter (dots, percent triplets, separators,
    // colon, full-width dot), so that plain and unsafe segments both come up often.
    const segment = fc
      .array(fc.constantFrom("a", "Z", "0", "-", "_", "~", ".", "%2e", "%25", ";", ":", "\\", "\uff0e", "%u002e"), {
        maxLength: 8,
      })
      .map((parts) => parts.join(""));
    let plain = 0;
    fc.assert(
      fc.property(segment, fc.boolean(), (candidate, first) => {
        if (!PLAIN_SEGMENT.test(candidate)) return;
        plain++;
        expect(inspectSegment(candidate, first), candidate).toBeUndefined();
      }),
      { numRuns: 5000 },
    );
    expect(plain).toBeGreaterThan(200);
    for (const unsafe of ["..", ".", "a..", "..a", ".a", "a.", "%2e%2e", "a:b"])
      expect(PLAIN_SEGMENT.test(unsafe)).toBe(false);
  });
});
