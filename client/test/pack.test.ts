import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readmeClientSnippet, SNIPPET_FREE_VARIABLES } from "./readme-snippet.js";

const run = promisify(execFile);
const repo = new URL("../..", import.meta.url).pathname;
const fixtures = new URL("./fixtures/consumer/", import.meta.url).pathname;
const tsc = join(repo, "node_modules/.bin/tsc");

/** `npx tsc --noEmit -p <project>` with one file; resolves with the exit code and output. */
async function typeCheck(project: string, file: string): Promise<{ code: number; output: string }> {
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ extends: "./tsconfig.base.json", files: [file] }));
  try {
    const { stdout } = await run(tsc, ["--noEmit", "-p", project], { cwd: project });
    return { code: 0, output: stdout };
  } catch (error) {
    const failure = error as { code: number; stdout: string };
    return { code: failure.code, output: failure.stdout };
  }
}

// The packed tarball installed into a project of its own: no workspace, no path into server/.
describe("npm pack -w client", () => {
  let dir: string;
  let packed: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "circl-bff-pack-"));
    const { stdout } = await run("npm", ["pack", "-w", "client", "--json", "--pack-destination", dir], {
      cwd: repo,
      maxBuffer: 16 * 1024 * 1024,
    });
    const [info] = JSON.parse(stdout.slice(stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    packed = (info?.files ?? []).map((file) => file.path);
    const tarball = readdirSync(dir).find((name) => name.endsWith(".tgz"));
    if (tarball === undefined) throw new Error("npm pack produced no tarball");
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: { "@circl-bff/client": `file:./${tarball}` },
      }),
    );
    // Offline-friendly: everything the package depends on is in the npm cache after `npm ci`.
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    });
    for (const file of readdirSync(fixtures).filter((name) => name.endsWith(".ts"))) {
      copyFileSync(join(fixtures, file), join(dir, file));
    }
    copyFileSync(join(fixtures, "tsconfig.json"), join(dir, "tsconfig.base.json"));
    writeFileSync(join(dir, "readme-snippet.ts"), `${SNIPPET_FREE_VARIABLES}${readmeClientSnippet()}export {};\n`);
  }, 180_000);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("contains the built entry points, one declaration file per entry and the CLI, nothing else", () => {
    expect(packed.sort()).toEqual(
      [
        "dist/cli.js",
        "dist/cli.js.map",
        "dist/index.d.ts",
        "dist/index.js",
        "dist/index.js.map",
        "dist/testing.d.ts",
        "dist/testing.js",
        "dist/testing.js.map",
        "package.json",
        "README.md",
      ].sort(),
    );
  });

  it("gives a consumer full inference from the tarball alone (skipLibCheck off)", async () => {
    const result = await typeCheck(dir, "good.ts");
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  }, 60_000);

  it("rejects a wrong input at compile time", async () => {
    const result = await typeCheck(dir, "bad.ts");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("bad.ts");
    expect(result.output).toMatch(/"everyone"/);
  }, 60_000);

  it("types onEvents handlers by the catalog and narrows with isEvent (typed-events.ts compiles)", async () => {
    const result = await typeCheck(dir, "typed-events.ts");
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  }, 60_000);

  it("rejects an onEvents handler key that is not a catalog type", async () => {
    const result = await typeCheck(dir, "bad-event-type.ts");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("bad-event-type.ts");
    expect(result.output).toMatch(/"nope\.nothing"/);
  }, 60_000);

  it("rejects reading a field the event's schema does not have", async () => {
    const result = await typeCheck(dir, "bad-event-field.ts");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("bad-event-field.ts");
    expect(result.output).toMatch(/Property 'nope' does not exist on type '\{ text: string; \}'/);
  }, 60_000);

  it("type-checks the README's client snippet as printed", async () => {
    const result = await typeCheck(dir, "readme-snippet.ts");
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  }, 60_000);

  it("runs: the installed package's entry points load in Node", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "const m = await import('@circl-bff/client'); console.log(typeof m.createBffClient, typeof m.openEventStream, typeof m.publishInputSchema.parse, typeof m.onEvents, typeof m.isEvent, Object.keys(m.eventCatalog).sort().join())",
      ],
      { cwd: dir },
    );
    expect(stdout.trim()).toBe("function function function function function demo.message,todo.changed");
  });
});
