// Sums the JSON reports of every suite (vitest, Playwright) into one "N passed, N failed" line.
import { existsSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;
let found = 0;

const vitest = "test-results/vitest.json";
if (existsSync(vitest)) {
  const report = JSON.parse(readFileSync(vitest, "utf8"));
  passed += report.numPassedTests;
  // A skipped or todo test in CI is a test that did not run: count it as failed.
  failed +=
    report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0) + report.numPendingTests + report.numTodoTests;
  found++;
}
const playwright = "test-results/playwright.json";
if (existsSync(playwright)) {
  const { stats } = JSON.parse(readFileSync(playwright, "utf8"));
  passed += stats.expected;
  failed += stats.unexpected + stats.flaky + stats.skipped;
  found++;
}
if (process.env.BENCH_QUICK_STATUS !== undefined) {
  // `npm run bench -- --quick` counts as one test.
  if (process.env.BENCH_QUICK_STATUS === "0") passed++;
  else failed++;
}
if (found === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
