/** Something holding frames to write in one go at the end of the event-loop turn. */
export interface Flushable {
  flush(): void;
}

let due: Flushable[] = [];
let scheduled = false;
/** The last turn ended with nothing left to write: the next event may leave at once. */
let idle = true;

/**
 * Flushes `target` once the current event-loop turn has handled all its I/O (`setImmediate`),
 * so that the frames of every event published in that turn leave in one write per socket. A
 * write costs a system call each (most of the fan-out profile), a frame more in a write costs
 * a copy. One queue for the process, like the event loop it follows: one immediate per turn,
 * none left once a turn ends with nothing to write.
 */
export function flushSoon(target: Flushable): void {
  due.push(target);
  schedule();
}

/**
 * Writes what is due now when the loop was idle (the last turn ended with nothing left to
 * write), Nagle's rule for the event loop: the first event after a quiet spell leaves at once
 * instead of waiting for the rest of its turn — the publish call's answer, its headers, hooks
 * and write — with nothing to coalesce with. Once a turn ends with frames to write, the events
 * of the next turns coalesce until one ends with none. Called when an event has been handed to
 * all its streams.
 */
export function flushIfIdle(): void {
  if (!idle || due.length === 0) return;
  idle = false;
  writeDue();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(endOfTurn);
}

function endOfTurn(): void {
  scheduled = false;
  if (due.length === 0) {
    idle = true;
    return;
  }
  idle = false;
  writeDue();
  // Look again at the end of the next turn: if it writes nothing, the loop is idle again.
  schedule();
}

function writeDue(): void {
  const targets = due;
  due = [];
  for (const target of targets) target.flush();
}
