import { expect, test } from "@circl-bff/client/testing";
import { expectDeliveredOnBoth, expectState, openDemo, receivedIds } from "./demo-page.js";

// Chromium's offline emulation does not cut an SSE connection that is already open (verified:
// events keep arriving after `setOffline(true)`), so the page also drops its connections
// ("Drop connection"); reconnecting then fails until the browser is back online.
test("offline, events published meanwhile arrive exactly once and in order on both transports", async ({
  page,
  context,
  bff,
}) => {
  const user = { sub: "resume-1", tenantId: "resume", roles: ["admin"] };
  await openDemo(page, bff, user);
  const ids: string[] = [];
  const publish = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      const result = await bff.publish(user, {
        type: "demo.message",
        data: { text: `message ${n}` },
        to: n % 2 ? "me" : "tenant",
      });
      ids.push(result.id as string);
    }
  };
  await publish(1, 3);
  await bff.waitForEvent(page, { transport: "raw", id: ids.at(-1) });
  await bff.waitForEvent(page, { transport: "trpc", id: ids.at(-1) });

  await context.setOffline(true);
  await page.click("#drop");
  await expectState(page, "raw", "connecting");
  await expectState(page, "trpc", "connecting");
  await publish(4, 8);
  // Still offline: no connection exists, so nothing new can have arrived.
  await expectState(page, "raw", "connecting");
  await expectState(page, "trpc", "connecting");
  expect(await receivedIds(bff, page, "raw", "demo.message")).toEqual(ids.slice(0, 3));

  await context.setOffline(false);
  await expectState(page, "raw", "open");
  await expectState(page, "trpc", "open");
  await bff.waitForEvent(page, { transport: "raw", id: ids.at(-1) });
  await bff.waitForEvent(page, { transport: "trpc", id: ids.at(-1) });
  await publish(9, 10);
  await expectDeliveredOnBoth(bff, page, ids);
  expect((await bff.received(page)).filter((e) => e.envelope.type === "reset")).toEqual([]);
  await expect(page.locator("#raw .resumed")).toHaveText("true");
  await expect(page.locator("#trpc .resumed")).toHaveText(/^true/);
});
