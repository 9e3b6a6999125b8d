// Sums the JSON reports of every suite (vitest, Playwright) into one "N passed, N failed" line,
// after naming every test that failed and every suite that did not run, so a red CI log says why.
import { existsSync, readFileSync } from "node:fs";
import { relative } from "node:path";

let passed = 0;
let failed = 0;
const failures = [];

const vitest = "test-results/vitest.json";
if (existsSync(vitest)) {
  const report = JSON.parse(readFileSync(vitest, "utf8"));
  passed += report.numPassedTests;
  // A skipped or todo test in CI is a test that did not run: count it as failed.
  failed +=
    report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0) + report.numPendingTests + report.numTodoTests;
  for (const file of report.testResults ?? []) {
    const name = relative(process.cwd(), file.name);
    const tests = file.assertionResults ?? [];
    for (const test of tests) {
      if (test.status !== "passed") failures.push(`vitest ${test.status}: ${name} > ${test.fullName}`);
    }
    if (file.status === "failed" && !tests.some((test) => test.status === "failed")) {
      failures.push(`vitest suite error: ${name}: ${firstLine(file.message)}`);
    }
  }
} else {
  failures.push("vitest: no report (the suite did not run)");
  failed++;
}

const playwright = "test-results/playwright.json";
if (existsSync(playwright)) {
  const report = JSON.parse(readFileSync(playwright, "utf8"));
  passed += report.stats.expected;
  failed += report.stats.unexpected + report.stats.flaky + report.stats.skipped;
  for (const spec of playwrightSpecs(report.suites ?? [])) {
    for (const test of spec.tests) {
      if (test.status !== "expected") failures.push(`playwright ${test.status}: ${spec.file} > ${spec.title}`);
    }
  }
} else {
  failures.push("playwright: no report (the suite did not run; `npm test` stops at the first failing suite)");
  failed++;
}

if (process.env.BENCH_QUICK_STATUS !== undefined) {
  // `npm run bench -- --quick` counts as one test.
  if (process.env.BENCH_QUICK_STATUS === "0") passed++;
  else {
    failed++;
    failures.push(`bench --quick: exit ${process.env.BENCH_QUICK_STATUS}`);
  }
}

for (const failure of failures) console.log(`FAILED ${failure}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

function* playwrightSpecs(suites) {
  for (const suite of suites) {
    yield* suite.specs ?? [];
    yield* playwrightSpecs(suite.suites ?? []);
  }
}

function firstLine(text) {
  return String(text ?? "").split("\n")[0];
}
