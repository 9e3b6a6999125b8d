/**
 * Server-Sent Events wire format. Callers pass only values that cannot contain CR or LF: ids we
 * generate, types validated against `[A-Za-z0-9_.:-]`, and JSON (which escapes line breaks).
 */

/**
 * A buffer for one chunk of a chunked HTTP/1.1 body, `<size in hex>\r\n<data>\r\n`, with the
 * head and the tail written and the `size` data bytes left to fill from `start`. The raw stream
 * writes its frames to the socket already framed (see `socket-sink.ts`).
 */
export function allocChunk(size: number): { chunk: Buffer; start: number } {
  const head = `${size.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(head.length + size + 2);
  chunk.write(head, 0, "latin1");
  chunk.write("\r\n", head.length + size, "latin1");
  return { chunk, start: head.length };
}

/**
 * The event frame wrapped as one HTTP/1.1 chunk, in one buffer with the frame a view into it: a
 * raw stream that has only this frame to send in a turn writes the shared chunk as it is, with
 * no per-socket copy.
 */
export function chunkedEventFrame(id: string, type: string, json: string): { frame: Buffer; chunk: Buffer } {
  const text = `id: ${id}\nevent: ${type}\ndata: ${json}\n\n`;
  const size = Buffer.byteLength(text);
  const { chunk, start } = allocChunk(size);
  chunk.write(text, start, "utf8");
  return { frame: chunk.subarray(start, start + size), chunk };
}

/** An event frame without an id, wrapped as one HTTP/1.1 chunk like {@link chunkedEventFrame}. */
export function chunkedAnonymousFrame(type: string, json: string): { frame: Buffer; chunk: Buffer } {
  const text = `event: ${type}\ndata: ${json}\n\n`;
  const size = Buffer.byteLength(text);
  const { chunk, start } = allocChunk(size);
  chunk.write(text, start, "utf8");
  return { frame: chunk.subarray(start, start + size), chunk };
}

/** Frames (`bytes` in all) as one HTTP/1.1 chunk: what a raw stream writes for a turn's batch. */
export function httpChunk(frames: Buffer | readonly Buffer[], bytes: number): Buffer {
  const { chunk, start } = allocChunk(bytes);
  if (Buffer.isBuffer(frames)) frames.copy(chunk, start);
  else {
    let at = start;
    for (const frame of frames) at += frame.copy(chunk, at);
  }
  return chunk;
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
