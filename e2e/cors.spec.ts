import { expect, test } from "@circl-bff/client/testing";
import { expectState, openDemo } from "./demo-page.js";
import { urls } from "./gateways.js";

const user = { sub: "cors-1", tenantId: "cors", roles: ["admin"] };

test("a page from a listed second origin calls the API and streams cross-origin", async ({ page, bff }) => {
  await openDemo(page, bff, user, { pageUrl: urls.otherOrigin, gateway: urls.main });
  expect(new URL(page.url()).origin).toBe(urls.otherOrigin);
  await page.click("#publish");
  await expect(page.locator("#publish-result")).toHaveAttribute("data-status", "published");
  const id = (await page.locator("#publish-result").textContent())?.split(" ")[1];
  await bff.waitForEvent(page, { transport: "raw", id });
  await bff.waitForEvent(page, { transport: "trpc", id });
});

test("the browser blocks the same page against a gateway that does not list its origin", async ({ page, bff }) => {
  const corsErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" && message.text().includes("CORS policy")) corsErrors.push(message.text());
  });
  const hash = new URLSearchParams({ token: bff.token(user), gateway: urls.shortStreams });
  await page.goto(`${urls.otherOrigin}/#${hash}`);
  await page.click("#publish");
  await expect(page.locator("#publish-result")).toHaveAttribute("data-status", "error");
  await expect.poll(() => corsErrors.some((text) => text.includes(`${urls.shortStreams}/trpc/`))).toBe(true);
  // The stream token request is blocked too, so neither stream ever opens.
  await expectState(page, "raw", "connecting");
  await expectState(page, "trpc", "connecting");
  expect(await bff.received(page)).toEqual([]);

  // The stream endpoint itself, given a valid stream token obtained outside the browser.
  const grant = await fetch(`${urls.shortStreams}/events/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${bff.token(user)}` },
  });
  expect(grant.status).toBe(200);
  const { token } = (await grant.json()) as { token: string };
  const outcome = await page.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const source = new EventSource(url);
        source.addEventListener("connected", () => resolve("connected"));
        source.onerror = () => resolve(source.readyState === EventSource.CLOSED ? "blocked" : "retrying");
      }),
    `${urls.shortStreams}/events/stream?token=${encodeURIComponent(token)}`,
  );
  expect(outcome).toBe("blocked");
  await expect.poll(() => corsErrors.some((text) => text.includes(`${urls.shortStreams}/events/stream`))).toBe(true);
});
