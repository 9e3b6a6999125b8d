import { publishInputSchema } from "@circl-bff/shared";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkedEventFrame } from "../src/stream/sse-frame.js";
import { toResetEvent, toStreamEvent } from "../src/stream/stream-event.js";

type Parsed = { id?: string; event: string; data: string };

/** A spec-following SSE parser (CR, LF and CRLF end lines), independent of the code under test. */
function parseSse(text: string): Parsed[] {
  const events: Parsed[] = [];
  let current: Parsed = { event: "message", data: "" };
  let data: string[] = [];
  let dispatch = false;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (dispatch) events.push({ ...current, data: data.join("\n") });
      current = { event: "message", data: "" };
      data = [];
      dispatch = false;
      continue;
    }
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") {
      data.push(value);
      dispatch = true;
    } else if (field === "event") current.event = value;
    else if (field === "id") current.id = value;
  }
  return events;
}

describe("SSE frames cannot be forged by event content", () => {
  it("any type the publish schema accepts, with any JSON data, is exactly one frame that parses back", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 140 }), fc.jsonValue(), fc.string(), (type, data, user) => {
        const parsed = publishInputSchema.safeParse({ type, data, to: "me" });
        if (!parsed.success) {
          // Whatever is refused could have broken a frame; whatever passes must not.
          return;
        }
        const event = toStreamEvent("e1", {
          seq: 7,
          key: { tenant: "t\n1", user: `${user}\r\n` },
          type: parsed.data.type,
          data,
          timestamp: new Date(0).toISOString(),
        });
        const frames = parseSse(event.frame.toString());
        expect(frames).toHaveLength(1);
        expect(frames[0]).toEqual({ id: "e1-7", event: parsed.data.type, data: JSON.stringify(event.envelope) });
        expect(JSON.parse(frames[0]?.data ?? "")).toEqual(JSON.parse(JSON.stringify(event.envelope)));
      }),
      { numRuns: 3000 },
    );
  });

  it("the publish schema refuses every type containing a line break, a space or NUL", () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom("\n", "\r", "\r\n", "\0", " "), fc.string(), (a, bad, b) => {
        expect(publishInputSchema.safeParse({ type: `${a}${bad}${b}`, data: null, to: "me" }).success).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("a reset echoing any client-sent Last-Event-ID is still exactly one frame", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (requested) => {
        const reset = toResetEvent("e1", 3, { tenant: "t", user: "u" }, "unknown-id", requested, 0);
        const frames = parseSse(reset.frame.toString());
        expect(frames).toHaveLength(1);
        expect(frames[0]?.event).toBe("reset");
        expect(JSON.parse(frames[0]?.data ?? "").data.lastEventId).toBe(requested);
      }),
      { numRuns: 2000 },
    );
  });

  it("frames carry no line break other than their own terminators", () => {
    const frame = chunkedEventFrame("e-1", "a.b", JSON.stringify({ text: "line1\nline2\r\u2028" })).frame.toString();
    expect(frame.split("\n")).toHaveLength(5);
    expect(frame).not.toContain("\r");
  });

  it("wraps each frame as one HTTP chunk whose size counts bytes, not characters", () => {
    const { frame, chunk } = chunkedEventFrame("e-1", "a.b", JSON.stringify({ text: "größe ✓ 😀" }));
    const text = chunk.toString("latin1");
    const head = text.slice(0, text.indexOf("\r\n") + 2);
    expect(Number.parseInt(head, 16)).toBe(frame.length);
    expect(chunk.length).toBe(head.length + frame.length + 2);
    expect(chunk.subarray(head.length, head.length + frame.length).equals(frame)).toBe(true);
    expect(chunk.subarray(-2).toString()).toBe("\r\n");
    expect(JSON.parse(frame.toString("utf8").split("\n")[2]?.slice(6) ?? "").text).toBe("größe ✓ 😀");
  });
});
