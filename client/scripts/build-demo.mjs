// Bundles the demo page script (client/demo/demo.ts + the client package) for the gateway's `/`.
import { build } from "esbuild";

await build({
  entryPoints: [new URL("../demo/demo.ts", import.meta.url).pathname],
  outfile: new URL("../../server/public/demo.js", import.meta.url).pathname,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  // Browsers have a global EventSource; the Node fallback is never loaded there.
  external: ["eventsource"],
  logLevel: "warning",
});
