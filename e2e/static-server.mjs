// Serves the demo page from a second origin (another port) for the CORS test: the page then
// calls the gateway named in its URL hash cross-origin.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const port = Number(process.argv[2]);
const dir = new URL("../server/public/", import.meta.url);
const files = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/demo.js": ["demo.js", "text/javascript; charset=utf-8"],
  "/demo.css": ["demo.css", "text/css; charset=utf-8"],
};

createServer((req, res) => {
  const entry = files[new URL(req.url ?? "/", "http://x").pathname];
  if (entry === undefined) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": entry[1] }).end(readFileSync(new URL(entry[0], dir)));
}).listen(port, "127.0.0.1");
