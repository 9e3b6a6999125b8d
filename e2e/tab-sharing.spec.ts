import { expect, test } from "@circl-bff/client/testing";
import type { Page } from "@playwright/test";
import { openDemo, receivedIds } from "./demo-page.js";
import { JWT_SECRET, urls } from "./gateways.js";

// A gateway of its own: `sse_connections_active` then counts this test's streams only.
test.use({ bffOptions: { url: urls.tabs, jwtSecret: JWT_SECRET } });

/** Sum of `sse_connections_active` over all labels. */
async function activeStreams(): Promise<number> {
  const text = await (await fetch(`${urls.tabs}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("sse_connections_active"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

test("8 tabs of one user share one stream, and closing the leader tab hands over without a gap", async ({
  context,
  bff,
}) => {
  const user = { sub: "tabs-1", tenantId: "tabs", roles: ["admin"] };
  const streamOpens = new Map<Page, number>();
  const tabs: Page[] = [];
  expect(await activeStreams()).toBe(0);
  for (let i = 0; i < 8; i++) {
    const page = await context.newPage();
    streamOpens.set(page, 0);
    page.on("request", (request) => {
      if (request.url().includes("/trpc/events.stream")) streamOpens.set(page, (streamOpens.get(page) ?? 0) + 1);
    });
    await openDemo(page, bff, user, { transports: ["trpc"] });
    tabs.push(page);
  }
  await expect.poll(activeStreams).toBe(1);
  const leaders = tabs.filter((page) => (streamOpens.get(page) ?? 0) > 0);
  expect(leaders).toHaveLength(1);
  const leader = leaders[0] as Page;

  const ids: string[] = [];
  const publish = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      ids.push(
        (await bff.publish(user, { type: "demo.message", data: { n }, to: n % 2 ? "me" : "tenant" })).id as string,
      );
    }
  };
  await publish(1, 5);
  for (const page of tabs) await bff.waitForEvent(page, { transport: "trpc", id: ids.at(-1) });
  expect(await activeStreams()).toBe(1);

  // Close the leader while events keep coming: another tab takes over from the last relayed id.
  const closing = leader.close();
  await publish(6, 10);
  await closing;
  await publish(11, 15);
  const rest = tabs.filter((page) => page !== leader);
  for (const page of rest) await bff.waitForEvent(page, { transport: "trpc", id: ids.at(-1) });
  for (const page of rest) expect(await receivedIds(bff, page, "trpc", "demo.message")).toEqual(ids);
  await expect.poll(activeStreams).toBe(1);
  expect(rest.filter((page) => (streamOpens.get(page) ?? 0) > 0)).toHaveLength(1);
});
