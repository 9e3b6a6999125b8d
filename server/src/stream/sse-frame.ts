/**
 * Server-Sent Events wire format. Callers pass only values that cannot contain CR or LF: ids we
 * generate, types validated against `[A-Za-z0-9_.:-]`, and JSON (which escapes line breaks).
 */
export function eventFrame(id: string, type: string, json: string): Buffer {
  return Buffer.from(`id: ${id}\nevent: ${type}\ndata: ${json}\n\n`);
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
