import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GatewayProcess } from "./helpers/gateway-process.js";
import { eventually, natsSuite, restartNats } from "./helpers/nats-suite.js";
import { accessToken } from "./helpers/tokens.js";

const suite = natsSuite({ restartAfterEach: true });
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function journalDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "circl-journal-"));
  dirs.push(dir);
  return dir;
}

async function instance(dir: string): Promise<GatewayProcess> {
  const gw = await GatewayProcess.start({ NATS_URL: suite.nats.server.url, NATS_PUBLISH_JOURNAL_DIR: dir });
  suite.closeAfter(() => gw.kill("SIGKILL"));
  return gw;
}

async function publish(url: string, token: string, data: number) {
  const res = await fetch(`${url}/events/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "n", data, to: "me" }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: (await res.json()) as { status?: string; id?: string },
  };
}

describe.skipIf(!suite.available)("queued publishes are journaled", () => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`delivers every event answered queued after a ${signal} of the instance holding them, through the next instance`, {
      timeout: 60_000,
    }, async () => {
      const dir = await journalDir();
      const a = await instance(dir);
      const token = await accessToken({ sub: "u1", tenantId: "t1" });
      const first = await publish(a.url, token, 0);
      expect(first.body.status).toBe("published");

      await suite.nats.server.stop();
      await eventually(async () => (await fetch(`${a.url}/ready`)).status === 503, 10_000, "A not ready");
      const answers = [];
      for (let i = 1; i <= 40; i++) answers.push(await publish(a.url, token, i));
      expect(answers.every((answer) => answer.status === 200 && answer.body.status === "queued")).toBe(true);
      await a.kill(signal);
      expect((await readdir(dir)).filter((name) => name.endsWith(".journal"))).toHaveLength(1);

      await restartNats(suite.nats);
      const b = await instance(dir);
      const resumed = await fetch(`${b.url}/events/stream`, {
        headers: { authorization: `Bearer ${token}`, "last-event-id": first.body.id as string },
      });
      const reader = resumed.body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      let text = "";
      const decoder = new TextDecoder();
      const received = () =>
        [...text.matchAll(/^data: (\{.*"type":"n".*\})$/gm)].map((m) => JSON.parse(m[1] as string).data);
      const deadline = Date.now() + 20_000;
      while (received().length < 40 && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      await reader.cancel();
      expect(received()).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const stored = await suite.nats.jsm.streams.info("EVENTS");
      expect(stored.state.messages).toBe(41);
      // Adopted and emptied: no journal of A is left behind.
      await eventually(
        async () => (await readdir(dir)).filter((n) => n.endsWith(".journal")).length === 1,
        5000,
        "one journal",
      );
    });
  }

  it("without a journal (NATS_PUBLISH_JOURNAL_DIR=off) answers 503 with Retry-After instead of queued", async () => {
    const gw = await suite.gateway({ NATS_PUBLISH_JOURNAL_DIR: "off" });
    const token = await gw.token({ sub: "u1", tenantId: "t1" });
    await suite.nats.server.stop();
    await eventually(async () => (await fetch(`${gw.url}/ready`)).status === 503, 10_000, "not ready");
    const answer = await publish(gw.url, token, 1);
    expect(answer.status).toBe(503);
    expect(answer.retryAfter).toBe("5");
  });
});
