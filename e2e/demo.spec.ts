import { createHmac, randomUUID } from "node:crypto";
import { expect, test } from "@circl-bff/client/testing";
import type { Browser, Page } from "@playwright/test";
import { expectState } from "./demo-page.js";
import { JWT_SECRET, urls } from "./gateways.js";

type User = { sub: string; tenantId: string; roles?: string[]; topics?: string[] };

/** An HS256 access token with a `topics` claim (the testing kit's tokens carry none). */
function token(user: User): string {
  const iat = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part({ ...user, roles: user.roles ?? [], iat, exp: iat + 600 })}`;
  return `${input}.${createHmac("sha256", JWT_SECRET).update(input).digest("base64url")}`;
}

/** The demo page of the main gateway in a browser context of its own, both transports open. */
async function openAs(browser: Browser, user: User, viewport?: { width: number; height: number }): Promise<Page> {
  const context = await browser.newContext(viewport === undefined ? {} : { viewport });
  const page = await context.newPage();
  await page.goto(`${urls.main}/#${new URLSearchParams({ token: token(user) })}`);
  await expectState(page, "raw", "open");
  await expectState(page, "trpc", "open");
  return page;
}

/** Publishes through `POST /events/publish` as `user`; returns the event's id. */
async function publish(user: User, text: string, to: "me" | "tenant" = "me"): Promise<string> {
  const response = await fetch(`${urls.main}/events/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token(user)}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "demo.message", data: { text }, to }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

const todoRow = (page: Page, title: string) => page.locator("#todos li").filter({ hasText: title });

test("a todo created in one user's page appears in another user's page of the tenant via todo.changed, and so do its changes", async ({
  browser,
}) => {
  const tenantId = `demo-${randomUUID()}`;
  const alice = await openAs(browser, { sub: "alice", tenantId, topics: ["*"] });
  const bob = await openAs(browser, { sub: "bob", tenantId, topics: ["*"] });
  await expect(bob.locator("#todos li")).toHaveCount(0);

  await alice.fill("#todo-title", "buy milk");
  await alice.click("#todo-add");
  await expect(todoRow(alice, "buy milk")).toHaveCount(1);
  // Bob's page never asked again: the gateway's todo.changed event put it there.
  await expect(todoRow(bob, "buy milk")).toHaveCount(1);
  await expect(todoRow(bob, "buy milk").locator(".by")).toHaveText("alice");
  const logged = bob.locator('#trpc .events li[data-type="todo.changed"]');
  await expect(logged).toHaveCount(1);
  await expect(logged.locator(".scope")).toHaveText("tenant");
  await expect(logged.locator(".delivery")).toHaveText("live");
  await expect(bob.locator('#raw .events li[data-type="todo.changed"]')).toHaveCount(1);

  // Bob ticks it off; Alice sees it done. Alice deletes it; it leaves Bob's list.
  await todoRow(bob, "buy milk").locator('input[type="checkbox"]').check();
  await expect(todoRow(alice, "buy milk")).toHaveAttribute("data-done", "true");
  await todoRow(alice, "buy milk").locator(".delete").click();
  await expect(todoRow(bob, "buy milk")).toHaveCount(0);
  await expect(bob.locator('#trpc .events li[data-type="todo.changed"]')).toHaveCount(3);

  // Another tenant's page saw none of it.
  const dave = await openAs(browser, { sub: "dave", tenantId: `${tenantId}-other`, topics: ["*"] });
  await dave.fill("#todo-title", "dave's own");
  await dave.click("#todo-add");
  await expect(todoRow(dave, "dave's own")).toHaveCount(1);
  await expect(dave.locator("#todos li")).toHaveCount(1);
  await expect(dave.locator('#trpc .events li[data-type="todo.changed"]')).toHaveCount(1);
  await expect(bob.locator('#trpc .events li[data-type="todo.changed"]')).toHaveCount(3);
  for (const page of [alice, bob, dave]) await page.context().close();
});

test("two users following one topic see each other in who-is-here and each other's messages; leaving removes one", async ({
  browser,
}) => {
  const tenantId = `demo-${randomUUID()}`;
  const alice = await openAs(browser, { sub: "alice", tenantId, topics: ["room:*"] });
  const bob = await openAs(browser, { sub: "bob", tenantId, topics: ["room:*"] });
  for (const page of [alice, bob]) {
    await page.fill("#topic", "room:e2e");
    await page.click("#follow");
    await expect(page.locator("#topic-followed")).toHaveAttribute("data-state", "open");
  }
  for (const page of [alice, bob]) {
    await expect(page.locator("#presence li[data-user='alice']")).toHaveCount(1);
    await expect(page.locator("#presence li[data-user='bob']")).toHaveCount(1);
  }

  await bob.fill("#topic-text", "hello room");
  await bob.click("#topic-publish");
  await expect(bob.locator("#topic-result")).toHaveAttribute("data-status", "published");
  const received = alice.locator("#topic-events li").filter({ hasText: "hello room" });
  await expect(received).toHaveCount(1);
  await expect(received.locator(".scope")).toHaveText("topic room:e2e");

  await bob.click("#unfollow");
  await expect(alice.locator("#presence li[data-user='bob']")).toHaveCount(0);
  await expect(alice.locator("#presence li[data-user='alice']")).toHaveCount(1);

  // A topic outside the token's grants is refused, and shown.
  await bob.fill("#topic", "secret:1");
  await bob.click("#follow");
  await expect(bob.locator("#topic-followed")).toHaveAttribute("data-state", "error");
  await expect(bob.locator("#topic-followed")).toContainText("topic not allowed: secret:1");
  for (const page of [alice, bob]) await page.context().close();
});

test("an invalid token shows the gateway's 401, retries nothing until the token changes, and disables Publish", async ({
  browser,
}) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const tokenCalls: string[] = [];
  page.on("request", (request) => {
    const url = request.url();
    if (url.includes("/events/stream") || url.includes("auth.streamToken") || url.includes("/events/token")) {
      tokenCalls.push(request.headers().authorization ?? url);
    }
  });
  await page.goto(`${urls.main}/#${new URLSearchParams({ token: "not-a-valid-token" })}`);
  await expect(page.locator("#auth-error")).toBeVisible();
  await expect(page.locator("#auth-error")).toContainText("401");
  await expectState(page, "raw", "error");
  await expectState(page, "trpc", "error");
  await expect(page.locator("#publish")).toBeDisabled();
  await expect(page.locator("#todo-add")).toBeDisabled();
  await expect(page.locator("#follow")).toBeDisabled();

  // A new token is a new attempt: it connects. Until then the bad one was tried exactly once.
  await page.fill("#token", token({ sub: "erin", tenantId: `demo-${randomUUID()}` }));
  await page.click("#connect");
  await expectState(page, "raw", "open");
  await expectState(page, "trpc", "open");
  await expect(page.locator("#auth-error")).toBeHidden();
  await expect(page.locator("#publish")).toBeEnabled();
  expect(tokenCalls.filter((call) => call.includes("not-a-valid-token"))).toHaveLength(1);
  await context.close();
});

test("the connection log tells a drop and the resume from the last id with the number of events replayed", async ({
  browser,
}) => {
  const user = { sub: "rhea", tenantId: `demo-${randomUUID()}`, roles: ["admin"] };
  const page = await openAs(browser, user);
  const first = await publish(user, "before the drop");
  for (const pane of ["raw", "trpc"]) {
    await expect(page.locator(`#${pane} .events li[data-id="${first}"] .delivery`)).toHaveText("live");
  }
  await page.context().setOffline(true);
  await page.click("#drop");
  await expectState(page, "raw", "connecting");
  await expectState(page, "trpc", "connecting");
  const missed = [await publish(user, "missed 1"), await publish(user, "missed 2", "tenant")];
  await page.context().setOffline(false);
  const log = page.locator("#connection-log li");
  for (const label of ["EventSource", "tRPC"]) {
    await expect(log.filter({ hasText: `${label}: dropped (Drop connection) at id ${first}` })).toHaveCount(1);
    await expect(log.filter({ hasText: `${label}: reconnected, resumed from id ${first}, 2 replayed` })).toHaveCount(1);
  }
  for (const pane of ["raw", "trpc"]) {
    await expect(page.locator(`#${pane} .resumed`)).toHaveText("true");
    for (const id of missed) {
      await expect(page.locator(`#${pane} .events li[data-id="${id}"] .delivery`)).toHaveText("replayed");
    }
    await expect(page.locator(`#${pane} .events li[data-id="${missed[1]}"] .scope`)).toHaveText("tenant");
    await expect(page.locator(`#${pane} .events li[data-id="${missed[0]}"] .scope`)).toHaveText("personal");
  }
  const after = await publish(user, "after the resume");
  await expect(page.locator(`#trpc .events li[data-id="${after}"] .delivery`)).toHaveText("live");
  await page.context().close();
});

test("on a 390 px wide screen the panels stack and nothing overflows; /favicon.ico answers", async ({
  browser,
  request,
}) => {
  const page = await openAs(
    browser,
    { sub: "phone", tenantId: `demo-${randomUUID()}`, topics: ["*"] },
    { width: 390, height: 844 },
  );
  const box = async (selector: string) => {
    const found = await page.locator(selector).boundingBox();
    if (found === null) throw new Error(`${selector} is not visible`);
    return found;
  };
  for (const [upper, lower] of [
    ["#raw", "#trpc"],
    ["#todos-panel", "#topic-panel"],
  ] as const) {
    const [a, b] = [await box(upper), await box(lower)];
    expect(b.y).toBeGreaterThanOrEqual(a.y + a.height);
    expect(a.x + a.width).toBeLessThanOrEqual(390);
    expect(b.x + b.width).toBeLessThanOrEqual(390);
  }
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const favicon = await request.get(`${urls.main}/favicon.ico`);
  expect(favicon.status()).toBe(204);
  await page.context().close();
});
