import type { Position } from "./event-bus.js";

const ID = /^([A-Za-z0-9]{1,32})-(\d{1,15})$/;

/** The public, opaque event id: `<epoch>-<seq>`. */
export function formatEventId(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

export function parseEventId(id: string): Position | undefined {
  const match = ID.exec(id);
  if (match === null) return undefined;
  const seq = Number(match[2]);
  return Number.isSafeInteger(seq) ? { epoch: match[1] as string, seq } : undefined;
}
