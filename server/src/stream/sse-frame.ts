/**
 * Server-Sent Events wire format. Callers pass only values that cannot contain CR or LF: ids we
 * generate, types validated against `[A-Za-z0-9_.:-]`, and JSON (which escapes line breaks).
 */

/**
 * The event frame wrapped as one HTTP/1.1 chunk (`<size in hex>\r\n<frame>\r\n`), in one buffer
 * with the frame a view into it: a raw stream that has only this frame to send in a turn writes
 * the shared chunk as it is, with no per-socket copy.
 */
export function chunkedEventFrame(id: string, type: string, json: string): { frame: Buffer; chunk: Buffer } {
  const text = `id: ${id}\nevent: ${type}\ndata: ${json}\n\n`;
  const size = Buffer.byteLength(text);
  const head = `${size.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(head.length + size + 2);
  chunk.write(head, 0, "latin1");
  chunk.write(text, head.length, "utf8");
  chunk.write("\r\n", head.length + size, "latin1");
  return { frame: chunk.subarray(head.length, head.length + size), chunk };
}

export function retryFrame(ms: number): Buffer {
  return Buffer.from(`retry: ${ms}\n\n`);
}

export function pingFrame(now: number): Buffer {
  return Buffer.from(`: ping ${now}\n\n`);
}

/** An event frame without an id: the browser's last event id stays where it was. */
export function anonymousEventFrame(type: string, json: string): Buffer {
  return Buffer.from(`event: ${type}\ndata: ${json}\n\n`);
}
