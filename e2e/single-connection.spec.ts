import { expect, test } from "@circl-bff/client/testing";
import { openDemo, receivedIds } from "./demo-page.js";

test("the page connects with EventSource, gets `connected`, then every published event in order", async ({
  page,
  bff,
}) => {
  const user = { sub: "single-1", tenantId: "single" };
  const streams: string[] = [];
  page.on("request", (request) => {
    if (request.url().includes("/events/stream")) streams.push(request.url());
  });
  await openDemo(page, bff, user, { transports: ["raw"] });
  // `connected` arrived (it carries `resumed`) on exactly one EventSource connection.
  await expect(page.locator("#raw .resumed")).toHaveText("false");
  expect(streams).toHaveLength(1);
  expect(new URL(streams[0] as string).searchParams.get("token")).not.toBeNull();

  const ids: string[] = [];
  for (let n = 1; n <= 5; n++) {
    const result = await bff.publish(user, { type: "demo.message", data: { text: `message ${n}` }, to: "me" });
    expect(result.status).toBe("published");
    ids.push(result.id as string);
  }
  await bff.waitForEvent(page, { transport: "raw", id: ids.at(-1) });
  expect(await receivedIds(bff, page, "raw", "demo.message")).toEqual(ids);
  const shown = await page.locator("#raw .events li .data").allTextContents();
  expect(shown).toEqual([5, 4, 3, 2, 1].map((n) => JSON.stringify({ text: `message ${n}` })));
});
