/**
 * How deeply an event's `data` may nest. `JSON.parse` accepts thousands of levels that
 * `JSON.stringify` then overflows on: such an event could be stored but never framed.
 */
export const MAX_DATA_DEPTH = 64;

/** True when `value` nests arrays or objects more than `max` levels deep (iterative: no stack to overflow). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== "object" || node === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
