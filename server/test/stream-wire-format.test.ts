import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, startGateway } from "./helpers/gateway.js";

let gw: Gateway | undefined;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** A raw HTTP request on a socket: the exact bytes of the response as they arrive. */
function rawStream(url: string, version: "1.0" | "1.1", token: string) {
  const { port } = new URL(url);
  const socket = connect({ port: Number(port), host: "127.0.0.1" });
  let received = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    received += chunk;
  });
  socket.write(`GET /events/stream HTTP/${version}\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n\r\n`);
  return {
    text: () => received,
    until: (check: (text: string) => boolean) =>
      expect.poll(() => check(received), { timeout: 5000, interval: 10 }).toBe(true),
    close: () => socket.destroy(),
  };
}

describe("raw stream wire format", () => {
  it("HTTP/1.1: the body is chunked, every chunk well formed, frames whole and in order", async () => {
    gw = await startGateway();
    const token = await gw.token({ sub: "alice" });
    const client = rawStream(gw.url, "1.1", token);
    await client.until((text) => text.includes("event: connected"));
    for (const n of [1, 2, 3]) await gw.publish(token, { type: "wire.test", data: { n }, to: "me" });
    await client.until((text) => text.includes('"n":3'));
    client.close();
    const raw = client.text();
    const headEnd = raw.indexOf("\r\n\r\n");
    expect(raw.slice(0, headEnd).toLowerCase()).toContain("transfer-encoding: chunked");
    // Decode the chunks strictly: size line, exactly that many bytes, CRLF.
    let body = "";
    let at = headEnd + 4;
    while (at < raw.length) {
      const lineEnd = raw.indexOf("\r\n", at);
      const size = Number.parseInt(raw.slice(at, lineEnd), 16);
      expect(Number.isInteger(size) && size > 0).toBe(true);
      body += raw.slice(lineEnd + 2, lineEnd + 2 + size);
      expect(raw.slice(lineEnd + 2 + size, lineEnd + 4 + size)).toBe("\r\n");
      at = lineEnd + 4 + size;
    }
    const frames = body.split("\n\n").filter((f) => f !== "");
    expect(frames[0]).toMatch(/^retry: \d+$/);
    expect(frames[1]).toMatch(/^event: connected\ndata: \{"clientId":"[^"]+","resumed":false\}$/);
    const data = frames.slice(2).map((f) => JSON.parse(f.split("\ndata: ")[1] as string).data);
    expect(data).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it("HTTP/1.0: no chunk framing, the frames are the body", async () => {
    gw = await startGateway();
    const token = await gw.token({ sub: "bob" });
    const client = rawStream(gw.url, "1.0", token);
    await client.until((text) => text.includes("event: connected"));
    await gw.publish(token, { type: "wire.test", data: { n: 1 }, to: "me" });
    await client.until((text) => text.includes('"n":1'));
    client.close();
    const raw = client.text();
    const headEnd = raw.indexOf("\r\n\r\n");
    expect(raw.slice(0, headEnd).toLowerCase()).not.toContain("transfer-encoding");
    expect(raw.slice(headEnd + 4)).toMatch(
      /^retry: \d+\n\nevent: connected\ndata: .+\n\nid: .+\nevent: wire\.test\ndata: .+\n\n$/,
    );
  });
});
