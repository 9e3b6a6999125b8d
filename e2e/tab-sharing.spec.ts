import { expect, test } from "@circl-bff/client/testing";
import type { Page } from "@playwright/test";
import { openDemo, receivedIds } from "./demo-page.js";
import { JWT_SECRET, urls } from "./gateways.js";

// A gateway of its own: `sse_connections_active` then counts this test's streams only (so this
// must stay the only test on it; `--repeat-each` needs `--workers 1` here).
test.use({ bffOptions: { url: urls.tabs, jwtSecret: JWT_SECRET } });

/** Sum of `sse_connections_active` over all labels. */
async function activeStreams(): Promise<number> {
  const text = await (await fetch(`${urls.tabs}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("sse_connections_active"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

test("8 tabs of one user share one stream per transport, and closing the leader tab hands over without a gap", async ({
  context,
  bff,
}) => {
  const user = { sub: "tabs-1", tenantId: "tabs", roles: ["admin"] };
  const transports = ["raw", "trpc"] as const;
  // Which tab opened which transport's network stream (only a leader does).
  const streamOpens = new Map<Page, { raw: number; trpc: number }>();
  const tabs: Page[] = [];
  expect(await activeStreams()).toBe(0);
  for (let i = 0; i < 8; i++) {
    const page = await context.newPage();
    const opens = { raw: 0, trpc: 0 };
    streamOpens.set(page, opens);
    page.on("request", (request) => {
      const url = request.url();
      if (url.includes("/events/stream")) opens.raw++;
      if (url.includes("/trpc/events.stream")) opens.trpc++;
    });
    await openDemo(page, bff, user);
    tabs.push(page);
  }
  const leadersOf = (pages: Page[], transport: "raw" | "trpc") =>
    pages.filter((page) => (streamOpens.get(page)?.[transport] ?? 0) > 0);
  // One EventSource stream and one tRPC stream for all 8 tabs.
  await expect.poll(activeStreams).toBe(2);
  for (const transport of transports) expect(leadersOf(tabs, transport)).toHaveLength(1);

  const ids: string[] = [];
  const publish = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      ids.push(
        (await bff.publish(user, { type: "demo.message", data: { text: `message ${n}` }, to: n % 2 ? "me" : "tenant" }))
          .id as string,
      );
    }
  };
  await publish(1, 5);
  for (const page of tabs) {
    for (const transport of transports) await bff.waitForEvent(page, { transport, id: ids.at(-1) });
  }
  expect(await activeStreams()).toBe(2);

  // Close the leader tab(s) while events keep coming: other tabs take over from the last relayed id.
  const leaders = [...new Set(transports.flatMap((transport) => leadersOf(tabs, transport)))];
  const closing = Promise.all(leaders.map((page) => page.close()));
  await publish(6, 10);
  await closing;
  await publish(11, 15);
  const rest = tabs.filter((page) => !leaders.includes(page));
  for (const page of rest) {
    for (const transport of transports) {
      await bff.waitForEvent(page, { transport, id: ids.at(-1) });
      expect(await receivedIds(bff, page, transport, "demo.message")).toEqual(ids);
    }
  }
  await expect.poll(activeStreams).toBe(2);
  for (const transport of transports) expect(leadersOf(rest, transport)).toHaveLength(1);
});
