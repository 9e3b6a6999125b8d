import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Every gateway the suite starts logs (at debug level) into one folder; when the suite ends, the
 * logs are searched for anything that looks like a JWT. Tokens of every kind travel through the
 * suite (access, stream, forged, mutated, in headers, URLs and connectionParams): none may
 * reach a log line.
 */
export default function setup() {
  const dir = mkdtempSync(join(tmpdir(), "circl-bff-test-logs-"));
  process.env.CIRCL_TEST_LOG_DIR = dir;
  return () => {
    const files = readdirSync(dir).filter((file) => file.endsWith(".log"));
    const logs = files.map((file) => readFileSync(join(dir, file), "utf8")).join("\n");
    rmSync(dir, { recursive: true, force: true });
    const lines = logs.split("\n").filter((line) => line !== "").length;
    if (lines === 0) {
      process.exitCode = 1;
      throw new Error("the suite logged nothing: the token check would prove nothing");
    }
    const leaks = logs.split("\n").filter((line) => /eyJ[A-Za-z0-9_-]{6,}/.test(line));
    if (leaks.length > 0) {
      // vitest reports a teardown error but keeps its exit code: set ours.
      process.exitCode = 1;
      throw new Error(`${leaks.length} log lines contain a token, e.g.:\n${leaks.slice(0, 3).join("\n")}`);
    }
    console.log(`log check: ${lines} log lines from ${files.length} files, no token in any`);
  };
}
