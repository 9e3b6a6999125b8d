import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PublishJournal } from "../src/bus/publish-journal.js";

const logger = { info: () => undefined, warn: () => undefined };
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited: its journal is up for adoption. */
function deadPid(): number {
  return spawnSync("true").pid as number;
}

/** Renames this process's journal as if a dead process had written it. */
async function orphan(dir: string, journal: PublishJournal, epoch: string): Promise<void> {
  await journal.close();
  const name = (await readdir(dir)).find((n) => n.endsWith(".journal"));
  if (name === undefined) throw new Error("no journal written");
  await rename(join(dir, name), join(dir, `${epoch}.${deadPid()}.0badc0de.journal`));
}

const entry = (id: string, data: number) => ({
  id,
  key: { tenant: "t1", user: "u1" },
  event: { type: "n", data },
  msgId: `msg-${id}`,
});

describe("the publish journal", () => {
  it("hands a dead process's pending entries and dead letters to the next instance of the same epoch, once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "journal-"));
    dirs.push(dir);
    const { journal } = await PublishJournal.open(dir, "epoch1", logger);
    await journal.add([entry("a", 1), entry("b", 2), entry("c", 3), entry("d", 4)]);
    journal.done("b");
    journal.dead("c", { attempts: 3, lastError: "max_payload", failedAt: "2026-12-03T10:00:00.000Z" });
    journal.dead("d", { attempts: 3, lastError: "x", failedAt: "2026-12-03T10:00:00.000Z" });
    journal.revive("d");
    await orphan(dir, journal, "epoch1");

    // Another stream's instance leaves it alone.
    const other = await PublishJournal.open(dir, "epoch2", logger);
    expect(other.recovered).toEqual({ pending: [], dead: [] });
    await other.journal.close();

    const next = await PublishJournal.open(dir, "epoch1", logger);
    expect(next.recovered.pending.map((e) => [e.id, e.event.data, e.msgId])).toEqual([
      ["a", 1, "msg-a"],
      ["d", 4, "msg-d"],
    ]);
    expect(next.recovered.dead).toEqual([
      { ...entry("c", 3), dead: { attempts: 3, lastError: "max_payload", failedAt: "2026-12-03T10:00:00.000Z" } },
    ]);
    // Adopted into the new journal: an instance after this one (were it to die too) finds them there.
    await orphan(dir, next.journal, "epoch1");
    const third = await PublishJournal.open(dir, "epoch1", logger);
    expect(third.recovered.pending.map((e) => e.id)).toEqual(["a", "d"]);
    expect(third.recovered.dead.map((e) => e.id)).toEqual(["c"]);
    for (const id of ["a", "d", "c"]) third.journal.done(id);
    await third.journal.close();
    // Nothing left: the file is removed on close.
    expect((await readdir(dir)).filter((n) => n.endsWith(".journal"))).toEqual([]);
  });
});
