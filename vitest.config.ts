import { defineConfig } from "vitest/config";

/**
 * Type-level specifications (`*.test-d.ts`): nothing runs; tsc checks them against their own
 * folder's tsconfig and vitest reports each `it` (and `tsc -b` checks them too).
 */
function typeTests(name: string, dir: string) {
  return {
    test: {
      name,
      include: [],
      typecheck: { enabled: true, only: true, include: [`${dir}/**/*.test-d.ts`], tsconfig: `${dir}/tsconfig.json` },
    },
  };
}

export default defineConfig({
  test: {
    reporters: process.env.CI ? ["default", ["json", { outputFile: "test-results/vitest.json" }]] : ["default"],
    projects: [
      {
        test: {
          name: "tests",
          include: ["shared/test/**/*.test.ts", "server/test/**/*.test.ts", "client/test/**/*.test.ts"],
          pool: "forks",
          globalSetup: ["server/test/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      typeTests("server types", "server/test"),
      typeTests("client types", "client/test"),
    ],
  },
});
