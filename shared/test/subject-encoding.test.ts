import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  broadcastSubject,
  decodeSubjectToken,
  encodeSubjectToken,
  keyFromSubject,
  LONE_SURROGATE,
  personalSubject,
} from "../src/index.js";

/** Arbitrary well-formed unicode ids of 1–256 characters (what the id schema accepts). */
const id = fc.string({ unit: "binary", minLength: 1, maxLength: 256 }).filter((s) => !LONE_SURROGATE.test(s));

describe("subject token encoding", () => {
  it("only produces [A-Za-z0-9_-], so no id can inject '.', '*', '>' or whitespace", () => {
    fc.assert(
      fc.property(id, (value) => {
        expect(encodeSubjectToken(value)).toMatch(/^[A-Za-z0-9_-]+$/);
      }),
      { numRuns: 2000 },
    );
  });

  it("is injective: decoding gives the id back, and different ids never share a token", () => {
    fc.assert(
      fc.property(id, id, (a, b) => {
        expect(decodeSubjectToken(encodeSubjectToken(a))).toBe(a);
        if (a !== b) expect(encodeSubjectToken(a)).not.toBe(encodeSubjectToken(b));
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps readable ids readable and escapes the rest", () => {
    expect(encodeSubjectToken("3f6c1f7e-9a0b-4c1d-8e2f-0a1b2c3d4e5f")).toBe("3f6c1f7e-9a0b-4c1d-8e2f-0a1b2c3d4e5f");
    expect(encodeSubjectToken("a.b")).toBe("a_2Eb");
    expect(encodeSubjectToken("a_2Eb")).toBe("a_5F2Eb");
    expect(encodeSubjectToken("*")).toBe("_2A");
    expect(encodeSubjectToken("é")).toBe("_C3_A9");
  });

  it("refuses ids that cannot be encoded faithfully", () => {
    expect(() => encodeSubjectToken("")).toThrow(RangeError);
    expect(() => encodeSubjectToken("a\uD800")).toThrow(RangeError);
  });

  it("round-trips subjects to keys and rejects foreign or non-canonical subjects", () => {
    fc.assert(
      fc.property(id, id, (tenant, user) => {
        expect(keyFromSubject(personalSubject(tenant, user))).toEqual({ tenant, user });
        expect(keyFromSubject(broadcastSubject(tenant))).toEqual({ tenant });
      }),
      { numRuns: 500 },
    );
    for (const subject of [
      "events",
      "events.t1",
      "events.t1.user",
      "events.t1.other.x",
      "other.t1.broadcast",
      "events.a.b.broadcast",
      "events._2e.broadcast",
      "events._61.broadcast",
      "events.t1.user.u.x",
    ]) {
      expect(keyFromSubject(subject), subject).toBeUndefined();
    }
  });
});
