/** Something holding frames to write in one go at the end of the event-loop turn. */
export interface Flushable {
  flush(): void;
}

let due: Flushable[] = [];
let scheduled = false;

/**
 * Flushes `target` once the current event-loop turn has handled all its I/O (`setImmediate`),
 * so that the frames of every event published in that turn leave in one write per socket. A
 * write costs a system call each (most of the fan-out profile), a frame more in a write costs
 * a copy. One queue for the process, like the event loop it follows: one immediate per turn,
 * none left once the queue is empty.
 */
export function flushSoon(target: Flushable): void {
  due.push(target);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushDue);
  }
}

function flushDue(): void {
  const targets = due;
  due = [];
  scheduled = false;
  for (const target of targets) target.flush();
}
