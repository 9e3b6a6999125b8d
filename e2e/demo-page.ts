import type { BffTestKit, TestUser } from "@circl-bff/client/testing";
import { expect, type Page } from "@playwright/test";

export type DemoOptions = {
  /** Where the page is loaded from (default: the gateway itself). */
  pageUrl?: string;
  /** The gateway the page talks to (default: the page's origin). */
  gateway?: string;
  transports?: ("raw" | "trpc")[];
  share?: boolean;
  types?: string[];
};

/** Opens the demo page logged in as `user` and waits until the chosen transports are open. */
export async function openDemo(page: Page, bff: BffTestKit, user: TestUser, options: DemoOptions = {}): Promise<void> {
  const transports = options.transports ?? ["raw", "trpc"];
  const hash = new URLSearchParams({ token: bff.token(user), transports: transports.join(",") });
  if (options.gateway !== undefined) hash.set("gateway", options.gateway);
  if (options.share === false) hash.set("share", "0");
  if (options.types !== undefined) hash.set("types", options.types.join(","));
  await page.goto(`${options.pageUrl ?? bff.url}/#${hash}`);
  for (const transport of transports) await expectState(page, transport, "open");
}

export async function expectState(page: Page, transport: "raw" | "trpc", state: string): Promise<void> {
  await expect(page.locator(`#${transport} .state`)).toHaveAttribute("data-state", state);
}

/** Ids of the envelopes of `type` the page's client delivered on `transport`, in order. */
export async function receivedIds(bff: BffTestKit, page: Page, transport: "raw" | "trpc", type: string) {
  return (await bff.received(page, transport)).filter((e) => e.envelope.type === type).map((e) => e.envelope.id);
}

/** Waits until both transports delivered the last of `ids`, then expects exactly `ids`, in order, on each. */
export async function expectDeliveredOnBoth(bff: BffTestKit, page: Page, ids: readonly string[]): Promise<void> {
  for (const transport of ["raw", "trpc"] as const) await bff.waitForEvent(page, { transport, id: ids.at(-1) });
  expect(await receivedIds(bff, page, "raw", "demo.message")).toEqual(ids);
  expect(await receivedIds(bff, page, "trpc", "demo.message")).toEqual(ids);
}
