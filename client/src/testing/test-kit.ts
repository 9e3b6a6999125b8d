import type { EventEnvelope, PublishInput, PublishResult } from "@circl-bff/shared";
import type { BrowserContext, Page } from "@playwright/test";
import type { Transport } from "../test-recorder.js";
import { type DevTokenClaims, mintDevAccessToken } from "./dev-token.js";

export type BffTestKitOptions = {
  /** The gateway's base URL. */
  url: string;
  /** The gateway's `JWT_SECRET` (HS256), to mint access tokens. */
  jwtSecret: string;
  /** Claim layout of the gateway (`JWT_TENANT_CLAIM`, `JWT_ROLES_CLAIM`, `JWT_ISSUER`, `JWT_AUDIENCE`). */
  claims?: Pick<DevTokenClaims, "tenantClaim" | "rolesClaim" | "issuer" | "audience">;
};

export type TestUser = { sub: string; tenantId: string; roles?: string[]; ttlSeconds?: number };

export type EventMatch = {
  type?: string;
  id?: string;
  transport?: Transport;
  /** Matches when the envelope's `data` equals this value (JSON equality). */
  data?: unknown;
};

export type RecordedEvent = { transport: Transport; envelope: EventEnvelope; at: number };

/** Installs the recorder hook that `@circl-bff/client` fills in pages (must run before page scripts). */
const RECORDER_SCRIPT = "globalThis.__circlBffTesting ??= { events: [] };";

export type BffTestKit = ReturnType<typeof createBffTestKit>;

/** Helpers for end-to-end suites that drive frontends against a running gateway. */
export function createBffTestKit(options: BffTestKitOptions) {
  const base = options.url.replace(/\/+$/, "");
  const token = (user: TestUser) => mintDevAccessToken(options.jwtSecret, { ...options.claims, ...user });

  return {
    url: base,
    /** An access token for `user`, signed like the identity provider's would be. */
    token,

    /** Publishes an event as `as` through `events.publish` (to `"tenant"` needs the `admin` role). */
    async publish(as: TestUser | string, input: PublishInput): Promise<PublishResult> {
      const accessToken = typeof as === "string" ? as : token(as);
      const response = await fetch(`${base}/trpc/events.publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json" },
        body: JSON.stringify(input),
      });
      const body = (await response.json()) as { result?: { data: PublishResult }; error?: { message: string } };
      if (!response.ok || body.result === undefined) {
        throw new Error(`publish failed (${response.status}): ${body.error?.message ?? "no result"}`);
      }
      return body.result.data;
    },

    /** Makes pages of `target` record what `@circl-bff/client` delivers (call before `goto`). */
    async instrument(target: BrowserContext | Page): Promise<void> {
      await target.addInitScript({ content: RECORDER_SCRIPT });
    },

    /** Everything the page's client delivered so far, in order. */
    async received(page: Page, transport?: Transport): Promise<RecordedEvent[]> {
      const events = await page.evaluate(
        () => (globalThis as { __circlBffTesting?: { events: RecordedEvent[] } }).__circlBffTesting?.events ?? [],
      );
      return transport === undefined ? events : events.filter((event) => event.transport === transport);
    },

    /** Waits until the page's client has delivered an envelope matching `match`, and returns it. */
    async waitForEvent(page: Page, match: EventMatch, { timeout = 10_000 } = {}): Promise<EventEnvelope> {
      const handle = await page.waitForFunction(
        (m) => {
          const events = (globalThis as { __circlBffTesting?: { events: RecordedEvent[] } }).__circlBffTesting?.events;
          if (events === undefined) throw new Error("page not instrumented: call bff.instrument(context) before goto");
          const wanted = m.data === undefined ? undefined : JSON.stringify(m.data);
          return (
            events.find(
              ({ transport, envelope }) =>
                (m.transport === undefined || transport === m.transport) &&
                (m.type === undefined || envelope.type === m.type) &&
                (m.id === undefined || envelope.id === m.id) &&
                (wanted === undefined || JSON.stringify(envelope.data) === wanted),
            )?.envelope ?? false
          );
        },
        match,
        { timeout, polling: 50 },
      );
      return (await handle.jsonValue()) as EventEnvelope;
    },
  };
}
