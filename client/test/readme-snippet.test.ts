import { transform } from "esbuild";
import { afterEach, describe, expect, it } from "vitest";
import { startGateway } from "../../server/test/helpers/gateway.js";
import * as clientPackage from "../src/index.js";
import { readmeClientSnippet } from "./readme-snippet.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Runs the snippet's code: its TypeScript stripped by esbuild, its one import bound to this
 * workspace's client, and its free variables (`gatewayUrl`, `accessToken`, `refetch`) and
 * `console` passed in. Nothing else of it is changed; its `stop` is handed back.
 */
async function runSnippet(globals: Record<string, unknown>): Promise<() => void> {
  const source = readmeClientSnippet();
  const importLine = /^import \{([^}]*)\} from "@circl-bff\/client";$/m;
  const imported = importLine.exec(source);
  if (imported === null) throw new Error("the snippet does not import from @circl-bff/client");
  const body = source.replace(importLine, `const {${imported[1]}} = __client;`);
  const { code } = await transform(body, { loader: "ts", format: "esm", target: "es2022" });
  const AsyncFunction = (async () => {}).constructor as new (
    ...args: string[]
  ) => (...values: unknown[]) => Promise<unknown>;
  const names = Object.keys(globals);
  const run = new AsyncFunction("__client", ...names, `${code}\nreturn stop;`);
  return (await run(clientPackage, ...names.map((name) => globals[name]))) as () => void;
}

describe("the README's client snippet", () => {
  it("runs as printed: subscribes, publishes once ready, and logs the event it published", async () => {
    const gw = await startGateway();
    cleanups.push(() => gw.close());
    const accessToken = await gw.token({ sub: "readme-user", tenantId: "t1" });
    const logged: unknown[][] = [];
    let refetches = 0;
    const stop = await runSnippet({
      gatewayUrl: gw.url,
      accessToken,
      refetch: () => refetches++,
      console: { log: (...args: unknown[]) => logged.push(args) },
    });
    cleanups.push(stop);
    expect(typeof stop).toBe("function");
    await expect.poll(() => logged.length).toBe(1);
    const [id, text] = logged[0] as [string, string];
    expect(text).toBe("hello");
    expect(id).toMatch(/\S/);
    expect(refetches).toBe(0);
    // After `stop()` the snippet's handler hears nothing, while another subscription does.
    const client = clientPackage.createBffClient({ url: gw.url, getAccessToken: () => accessToken });
    const again: string[] = [];
    const ready = new Promise<void>((resolve) => {
      cleanups.push(
        clientPackage.onEvents(
          client,
          { "demo.message": (event) => again.push(event.data.text) },
          { onReady: () => resolve() },
        ),
      );
    });
    await ready;
    stop();
    await client.events.publish.mutate({ type: "demo.message", data: { text: "after stop" }, to: "me" });
    await expect.poll(() => again).toEqual(["after stop"]);
    expect(logged).toHaveLength(1);
  });
});
