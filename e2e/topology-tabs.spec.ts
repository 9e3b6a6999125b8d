import { createBffTestKit } from "@circl-bff/client/testing";
import { expect, type Page, test } from "@playwright/test";
import { startTopology, type Topology } from "../topology/src/index.js";
import { openDemo, receivedIds } from "./demo-page.js";

// The processes `npm run topology` starts; Caddy's certificate comes from its own internal CA.
test.use({ ignoreHTTPSErrors: true });

const JWT_SECRET = "e2e-topology-jwt-secret-0123456789abcdef-01";
let topology: Topology;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  topology = await startTopology({
    jwtSecret: JWT_SECRET,
    // 16 streams of one user (8 tabs × 2 transports) over 2 gateways: above the default 10 per instance.
    gatewayEnv: { LOG_LEVEL: "warn", MAX_CONNECTIONS_PER_USER: "32" },
  });
});

test.afterAll(async () => {
  await topology?.stop();
});

/** Open streams on both gateways together (each answers for itself, directly). */
async function openStreams(): Promise<number> {
  const counts = await Promise.all(
    topology.gateways.map(
      async (gw) => ((await (await fetch(`${gw.url}/ready`)).json()) as { streams: number }).streams,
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

test("8 tabs over HTTP/2 through Caddy, tab sharing off: all 16 streams open at once and every tab gets every event on both transports", async ({
  context,
}) => {
  test.setTimeout(90_000);
  const bff = createBffTestKit({ url: topology.url, jwtSecret: JWT_SECRET });
  await bff.instrument(context);
  const user = { sub: "tabs-h2", tenantId: "topology", roles: ["admin"] };
  const tabs: Page[] = [];
  for (let i = 0; i < 8; i++) {
    const page = await context.newPage();
    await openDemo(page, bff, user, { share: false });
    tabs.push(page);
  }
  // HTTP/1.1 would hold at most 6 connections to the origin: the 7th tab's streams could not open.
  for (const page of tabs) {
    const protocol = await page.evaluate(
      () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    expect(protocol).toBe("h2");
  }
  await expect.poll(openStreams).toBe(16);

  // Published through the proxy from the first tab, to the user: every tab, both transports.
  const ids: string[] = [];
  for (let n = 1; n <= 10; n++) {
    const result = await (tabs[0] as Page).evaluate(
      async ({ token, n }) => {
        const response = await fetch("/events/publish", {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "demo.message", data: { text: `h2 ${n}` }, to: "me" }),
        });
        return { status: response.status, body: (await response.json()) as { status: string; id?: string } };
      },
      { token: bff.token(user), n },
    );
    expect(result.status).toBe(200);
    expect(result.body.status).toBe("published");
    ids.push(result.body.id as string);
  }
  for (const page of tabs) {
    for (const transport of ["raw", "trpc"] as const) {
      await bff.waitForEvent(page, { transport, id: ids.at(-1) });
      expect(await receivedIds(bff, page, transport, "demo.message")).toEqual(ids);
    }
  }
  // Still one stream per tab and transport: nothing reconnected on the way.
  expect(await openStreams()).toBe(16);
});
