import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { StreamKey } from "@circl-bff/shared";
import type { OutgoingEvent } from "./event-bus.js";

/** What a journal keeps of a queued publish: enough to send it again, with the same msg id. */
export type JournalEntry = { id: string; key: StreamKey; event: OutgoingEvent; msgId: string };

/** Why and when a journaled publish was given up (a dead letter, until an admin retries or drops it). */
export type DeadInfo = { attempts: number; lastError: string; failedAt: string };

type Line =
  | ({ op: "add" } & JournalEntry)
  | { op: "done"; id: string }
  | ({ op: "dead"; id: string } & DeadInfo)
  | { op: "revive"; id: string };

export type Recovered = { pending: JournalEntry[]; dead: (JournalEntry & { dead: DeadInfo })[] };

export type JournalLogger = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
};

/** Whether the process with this pid is alive (a journal of a dead one is left for recovery). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function replay(text: string): Recovered {
  const entries = new Map<string, JournalEntry & { dead?: DeadInfo }>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let parsed: Line;
    try {
      parsed = JSON.parse(line) as Line;
    } catch {
      continue; // a line torn by the crash: it was never acknowledged
    }
    if (parsed.op === "add") {
      entries.set(parsed.id, { id: parsed.id, key: parsed.key, event: parsed.event, msgId: parsed.msgId });
    } else if (parsed.op === "done") entries.delete(parsed.id);
    else {
      const entry = entries.get(parsed.id);
      if (entry === undefined) continue;
      if (parsed.op === "dead") {
        entry.dead = { attempts: parsed.attempts, lastError: parsed.lastError, failedAt: parsed.failedAt };
      } else entry.dead = undefined;
    }
  }
  const recovered: Recovered = { pending: [], dead: [] };
  for (const entry of entries.values()) {
    const { dead, ...rest } = entry;
    if (dead === undefined) recovered.pending.push(rest);
    else recovered.dead.push({ ...rest, dead });
  }
  return recovered;
}

function isEmpty(recovered: Recovered): boolean {
  return recovered.pending.length === 0 && recovered.dead.length === 0;
}

/**
 * The publish queue on disk (docs/nats.md, "What a 200 means"): a publish is answered `queued`
 * only once its entry is written and fsynced, so it survives SIGKILL, a crash and SIGTERM while
 * NATS is down. Appends of one event-loop turn share one write and one `fdatasync`. Entries are
 * marked done when stored or dropped, and dead while they are dead letters (recovered as
 * such); the file is emptied whenever nothing in it is left.
 *
 * One file per process, `<epoch>.<pid>.<random>.journal`, in `dir`. At start an instance adopts
 * the files of dead processes of the same stream epoch (another epoch's positions mean nothing
 * here) and sends their entries again with their original msg ids: JetStream drops the copies
 * it already stored within its 2-minute duplicate window.
 */
export class PublishJournal {
  private batch: { lines: string[]; waiters: { resolve: () => void; reject: (error: unknown) => void }[] } | undefined;
  private writing: Promise<void> = Promise.resolve();
  private live = 0;

  private constructor(
    private readonly file: Awaited<ReturnType<typeof open>>,
    readonly path: string,
  ) {}

  /** Opens this process's journal and returns the entries recovered from dead processes' journals. */
  static async open(
    dir: string,
    epoch: string,
    logger: JournalLogger,
  ): Promise<{ journal: PublishJournal; recovered: Recovered }> {
    await mkdir(dir, { recursive: true });
    const recovered: Recovered = { pending: [], dead: [] };
    const adopted: string[] = [];
    for (const name of await readdir(dir)) {
      const match = /^([0-9a-z]+)\.(\d+)\.[0-9a-f]+\.journal$/.exec(name);
      if (match === null || alive(Number(match[2]))) continue;
      if (match[1] !== epoch) {
        // Another stream's (or a recreated one's): its positions mean nothing here. Kept for an
        // instance of that stream unless there is nothing in it.
        if (isEmpty(replay(await readFile(join(dir, name), "utf8").catch(() => "")))) {
          await unlink(join(dir, name)).catch(() => undefined);
        } else logger.warn({ file: name }, "a journal of another stream epoch is left untouched");
        continue;
      }
      // Claim it first (a rename is atomic): two instances starting together never both adopt it.
      const claimed = join(dir, `${name}.adopting.${process.pid}`);
      try {
        await rename(join(dir, name), claimed);
      } catch {
        continue;
      }
      const found = replay(await readFile(claimed, "utf8"));
      recovered.pending.push(...found.pending);
      recovered.dead.push(...found.dead);
      adopted.push(claimed);
    }
    const path = join(dir, `${epoch}.${process.pid}.${randomBytes(4).toString("hex")}.journal`);
    const journal = new PublishJournal(await open(path, "a"), path);
    if (!isEmpty(recovered)) {
      await journal.add([...recovered.pending, ...recovered.dead]);
      for (const entry of recovered.dead) journal.dead(entry.id, entry.dead);
      logger.info(
        { pending: recovered.pending.length, dead: recovered.dead.length, files: adopted.length },
        "recovered queued publishes and dead letters from a journal",
      );
    }
    for (const file of adopted) await unlink(file);
    return { journal, recovered };
  }

  /** Resolves once the entries are on disk (written and fsynced with the rest of this turn's). */
  add(entries: readonly JournalEntry[]): Promise<void> {
    this.live += entries.length;
    return this.append(entries.map((entry) => JSON.stringify({ op: "add", ...entry })));
  }

  /** The entry became a dead letter: kept (recovered as one) until retried or dropped. */
  dead(id: string, info: DeadInfo): void {
    this.append([JSON.stringify({ op: "dead", id, ...info })]).catch(() => undefined);
  }

  /** A dead letter was put back into the queue. */
  revive(id: string): void {
    this.append([JSON.stringify({ op: "revive", id })]).catch(() => undefined);
  }

  /** The entry was stored (or dropped): not to be sent again. Not awaited: a lost mark costs a de-duplicated resend. */
  done(id: string): void {
    this.live = Math.max(0, this.live - 1);
    this.append([JSON.stringify({ op: "done", id })]).catch(() => undefined);
    if (this.live === 0) this.writing = this.writing.then(() => this.file.truncate(0)).catch(() => undefined);
  }

  /** Closes the file; removes it when nothing in it is still to be sent. */
  async close(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // this turn's batch
    await this.writing.catch(() => undefined);
    await this.file.close();
    if (this.live === 0) await unlink(this.path).catch(() => undefined);
  }

  private append(lines: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.batch === undefined) {
        this.batch = { lines: [], waiters: [] };
        setImmediate(() => this.flush());
      }
      this.batch.lines.push(...lines);
      this.batch.waiters.push({ resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined) return;
    this.writing = this.writing.then(async () => {
      try {
        await this.file.write(`${batch.lines.join("\n")}\n`);
        await this.file.datasync();
        for (const waiter of batch.waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of batch.waiters) waiter.reject(error);
      }
    });
  }
}
