// Builds the publishable package: ESM JavaScript with esbuild (the private @circl-bff/shared
// workspace is bundled in; real dependencies stay imports) and ONE declaration file per entry
// with rollup-plugin-dts, inlining the server's router types so consumers need no server source.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { build } from "esbuild";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";

const root = new URL("..", import.meta.url).pathname;
const external = ["@trpc/client", "@trpc/server", "zod", "eventsource", "@playwright/test"];
const isExternal = (id) => external.some((name) => id === name || id.startsWith(`${name}/`));

execFileSync("npx", ["tsc", "-b", "client"], { cwd: new URL("../..", import.meta.url).pathname, stdio: "inherit" });
rmSync(`${root}dist`, { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: { index: "src/index.ts" },
  outdir: "dist",
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2022",
  external,
  sourcemap: true,
  logLevel: "warning",
});
await build({
  absWorkingDir: root,
  entryPoints: { testing: "src/testing/index.ts", cli: "src/cli.ts" },
  outdir: "dist",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external,
  sourcemap: true,
  logLevel: "warning",
});

// The router type mentions the server's request context (Fastify types) only as `ctx`, which a
// client never uses: replace it so the bundle does not drag server-only types along.
const stubServerContext = {
  name: "stub-server-context",
  load(id) {
    if (/[\\/]server[\\/]dist[\\/]trpc[\\/]context\.d\.ts$/.test(id)) {
      return "/** Server-side request context (not visible to clients). */\nexport type TrpcContext = object;\n";
    }
    return null;
  },
};
// One self-contained declaration file per entry point (index.d.ts holds the router types).
for (const [name, input] of [
  ["index", `${root}build/tsc/index.d.ts`],
  ["testing", `${root}build/tsc/testing/index.d.ts`],
]) {
  const bundle = await rollup({
    input,
    external: isExternal,
    plugins: [stubServerContext, dts({ respectExternal: true, tsconfig: `${root}tsconfig.json` })],
  });
  await bundle.write({ file: `${root}dist/${name}.d.ts`, format: "es" });
  await bundle.close();
}
