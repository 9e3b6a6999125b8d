import { expect, test } from "@circl-bff/client/testing";
import { expectDeliveredOnBoth, expectState, openDemo } from "./demo-page.js";
import { JWT_SECRET, urls } from "./gateways.js";

// This gateway issues stream tokens valid for 5 s and ends a stream when its token expires.
test.use({ bffOptions: { url: urls.shortTokens, jwtSecret: JWT_SECRET } });

test("with 5 s stream tokens both transports run 20 s through several token refreshes without losing an event", async ({
  page,
  bff,
}) => {
  const user = { sub: "expiry-1", tenantId: "expiry", roles: ["admin"] };
  const tokenRequests: string[] = [];
  page.on("request", (request) => {
    if (request.url().includes("auth.streamToken")) tokenRequests.push(request.url());
  });
  await openDemo(page, bff, user);
  const started = Date.now();
  const ids: string[] = [];
  // One event every 500 ms for 20 s: the pacing is the scenario (events across token expiries).
  for (let n = 1; Date.now() - started < 20_000; n++) {
    const result = await bff.publish(user, {
      type: "demo.message",
      data: { text: `message ${n}` },
      to: n % 2 ? "me" : "tenant",
    });
    ids.push(result.id as string);
    await page.waitForTimeout(500);
  }
  await expectDeliveredOnBoth(bff, page, ids);
  // Each transport renewed its token at least twice (two transports, one client: ≥ 2 × 3 tokens).
  expect(tokenRequests.length).toBeGreaterThanOrEqual(6);
  await expectState(page, "raw", "open");
  await expectState(page, "trpc", "open");
});
