import { expect, type TestUser, test } from "@circl-bff/client/testing";
import { openDemo } from "./demo-page.js";

test("A publishes to the tenant from the page; B and C of the tenant receive it, D of another tenant does not", async ({
  browser,
  bff,
}, testInfo) => {
  const users = {
    a: { sub: "alice", tenantId: "acme", roles: ["admin"] },
    b: { sub: "bob", tenantId: "acme" },
    c: { sub: "carol", tenantId: "acme" },
    d: { sub: "dave", tenantId: "globex" },
  };
  const open = async (user: TestUser) => {
    const context = await browser.newContext();
    await bff.instrument(context);
    const page = await context.newPage();
    await openDemo(page, bff, user);
    return page;
  };
  const [a, b, c, d] = await Promise.all([open(users.a), open(users.b), open(users.c), open(users.d)]);

  await a.fill("#data", JSON.stringify({ text: "hello acme" }));
  await a.check('input[name="to"][value="tenant"]');
  await a.click("#publish");
  await expect(a.locator("#publish-result")).toHaveAttribute("data-status", "published");
  const id = (await a.locator("#publish-result").textContent())?.split(" ")[1];
  expect(id).toBeTruthy();

  for (const page of [a, b, c]) {
    for (const transport of ["raw", "trpc"] as const) {
      const envelope = await bff.waitForEvent(page, { transport, id });
      expect(envelope).toMatchObject({ type: "demo.message", data: { text: "hello acme" }, tenantId: "acme" });
      expect(envelope.userId).toBeUndefined();
    }
  }
  // D's streams are live after A's event (a later event reaches D on both), yet never saw it.
  const marker = await bff.publish(users.d, { type: "demo.message", data: { text: "for dave" }, to: "me" });
  await bff.waitForEvent(d, { transport: "raw", id: marker.id });
  await bff.waitForEvent(d, { transport: "trpc", id: marker.id });
  expect((await bff.received(d)).map((e) => e.envelope.id)).toEqual([marker.id, marker.id]);

  // A non-admin cannot publish to the tenant: the page shows the refusal.
  await b.check('input[name="to"][value="tenant"]');
  await b.click("#publish");
  await expect(b.locator("#publish-result")).toHaveAttribute("data-status", "error");

  const screenshot = await a.screenshot({ fullPage: true, path: testInfo.outputPath("demo.png") });
  await testInfo.attach("demo page after the two-way test", { body: screenshot, contentType: "image/png" });
  if (process.env.UPDATE_DOCS_SCREENSHOT) await a.screenshot({ fullPage: true, path: "docs/demo.png" });
  for (const page of [a, b, c, d]) await page.context().close();
});
