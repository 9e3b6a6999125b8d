import { test as base } from "@playwright/test";
import { type BffTestKit, type BffTestKitOptions, createBffTestKit } from "./test-kit.js";

/**
 * Playwright fixtures: `bff` is a test kit whose default `context` is already instrumented.
 * Configure with `test.use({ bffOptions: { url, jwtSecret } })` or the `BFF_URL` / `JWT_SECRET`
 * environment variables.
 */
export const test = base.extend<{ bff: BffTestKit }, { bffOptions: BffTestKitOptions }>({
  bffOptions: [
    { url: process.env.BFF_URL ?? "http://localhost:3000", jwtSecret: process.env.JWT_SECRET ?? "" },
    { option: true, scope: "worker" },
  ],
  bff: async ({ bffOptions, context }, use) => {
    const kit = createBffTestKit(bffOptions);
    await kit.instrument(context);
    await use(kit);
  },
});

export { expect } from "@playwright/test";
