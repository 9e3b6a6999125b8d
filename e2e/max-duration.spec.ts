import { expect, test } from "@circl-bff/client/testing";
import { expectDeliveredOnBoth, expectState, openDemo } from "./demo-page.js";
import { JWT_SECRET, urls } from "./gateways.js";

// This gateway ends every stream after 3 s (SSE_MAX_CONNECTION_MS=3000).
test.use({ bffOptions: { url: urls.shortStreams, jwtSecret: JWT_SECRET } });

test("streams ended by the gateway every 3 s reconnect by themselves and miss nothing", async ({ page, bff }) => {
  const user = { sub: "maxdur-1", tenantId: "maxdur", roles: ["admin"] };
  const connections = { raw: 0, trpc: 0 };
  page.on("request", (request) => {
    const url = request.url();
    if (url.includes("/events/stream")) connections.raw++;
    if (url.includes("/trpc/events.stream")) connections.trpc++;
  });
  await openDemo(page, bff, user);
  const ids: string[] = [];
  for (let n = 1; n <= 20; n++) {
    const result = await bff.publish(user, {
      type: "demo.message",
      data: { text: `message ${n}` },
      to: n % 3 ? "me" : "tenant",
    });
    ids.push(result.id as string);
    await page.waitForTimeout(400);
  }
  await expectDeliveredOnBoth(bff, page, ids);
  // 8 s of publishing over 3 s connections: at least two reconnects per transport.
  expect(connections.raw).toBeGreaterThanOrEqual(3);
  expect(connections.trpc).toBeGreaterThanOrEqual(3);
  await expect(page.locator("#raw .resumed")).toHaveText("true");
  await expectState(page, "raw", "open");
});
