import { expect } from "vitest";
import type { Gateway } from "./gateway.js";
import type { SseClient } from "./sse-client.js";

/** Ids with subject syntax, spaces, unicode and look-alikes of the subject encoding. */
export const AWKWARD_IDS = ["a.b", "*", ">", "with space", "ünï.cødé 🚀", "x_2E", "events.t1.>", "u1"];

/**
 * Every pair of the first `tenantCount` awkward tenant ids and all awkward user ids opens a
 * stream (on the gateways in turn) and publishes itself a personal event (through the next
 * gateway); then each tenant gets a broadcast through the last gateway. Every stream must get
 * exactly its own personal event, then its tenant's broadcast, and nothing else.
 */
export async function checkAwkwardIdIsolation(
  gateways: readonly Gateway[],
  open: (gw: Gateway, token: string) => Promise<SseClient>,
  tenantCount: number,
): Promise<void> {
  const at = (i: number) => gateways[i % gateways.length] as Gateway;
  const clients: { tenantId: string; sub: string; token: string; stream: SseClient }[] = [];
  for (const tenantId of AWKWARD_IDS.slice(0, tenantCount)) {
    for (const sub of AWKWARD_IDS) {
      const gw = at(clients.length);
      const token = await gw.token({ sub, tenantId, roles: ["admin"] });
      clients.push({ tenantId, sub, token, stream: await open(gw, token) });
    }
  }
  for (const [i, client] of clients.entries()) {
    await at(i + 1).publish(client.token, { type: "p", data: { to: [client.tenantId, client.sub] }, to: "me" });
  }
  for (const tenantId of AWKWARD_IDS.slice(0, tenantCount)) {
    const admin = clients.find((c) => c.tenantId === tenantId);
    await at(gateways.length - 1).publish(admin?.token as string, {
      type: "b",
      data: { tenant: tenantId },
      to: "tenant",
    });
  }
  for (const client of clients) {
    await client.stream.waitForData(2);
    const received = client.stream.envelopes<{ type: string; data: unknown; tenantId: string; userId?: string }>();
    expect(received).toHaveLength(2);
    expect(received[0]).toMatchObject({ type: "p", data: { to: [client.tenantId, client.sub] }, userId: client.sub });
    expect(received[1]).toMatchObject({ type: "b", data: { tenant: client.tenantId }, tenantId: client.tenantId });
    expect(received[1]?.userId).toBeUndefined();
  }
}
