import { setTimeout as delay } from "node:timers/promises";

/** Polls `probe` every `intervalMs` until it returns true; throws `what` after `timeoutMs`. */
export async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** GET `url` (plain HTTP) and report its status; 0 when nothing answered within `timeoutMs`. */
export async function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}
