import { describe, expect, it } from "vitest";
import { StreamTokenSource } from "../src/stream-token-source.js";

function source() {
  let now = 0;
  let issued = 0;
  const tokens = new StreamTokenSource(
    async () => ({ token: `t${++issued}`, expiresIn: 10 }),
    () => now,
  );
  return { tokens, advance: (ms: number) => (now += ms), issued: () => issued };
}

describe("StreamTokenSource", () => {
  it("reuses a token until half of its lifetime, then fetches a new one", async () => {
    const { tokens, advance } = source();
    expect(await tokens.get()).toBe("t1");
    advance(4_999);
    expect(await tokens.get()).toBe("t1");
    advance(1);
    expect(await tokens.get()).toBe("t2");
  });

  it("shares one request between concurrent callers", async () => {
    const { tokens, issued } = source();
    expect(await Promise.all([tokens.get(), tokens.get(), tokens.get()])).toEqual(["t1", "t1", "t1"]);
    expect(issued()).toBe(1);
  });

  it("fetches a new token after invalidate() (a refused connection)", async () => {
    const { tokens } = source();
    expect(await tokens.get()).toBe("t1");
    tokens.invalidate();
    expect(await tokens.get()).toBe("t2");
  });

  it("fetches again after a failed request", async () => {
    let calls = 0;
    const tokens = new StreamTokenSource(async () => {
      calls++;
      if (calls === 1) throw new Error("offline");
      return { token: "ok", expiresIn: 10 };
    });
    await expect(tokens.get()).rejects.toThrow("offline");
    expect(await tokens.get()).toBe("ok");
  });
});
