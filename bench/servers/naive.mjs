// The naive limit: a minimal node:http SSE broadcaster. An array of responses, one
// pre-serialised frame written to each per event. No auth, no envelope, no resume.
import { createServer } from "node:http";
import { heartbeatMs, listen, readJson } from "./comparator-io.mjs";

const all = [];
const byUser = new Map();
let nextId = 0;

function remove(res, user) {
  const i = all.indexOf(res);
  if (i !== -1) all.splice(i, 1);
  if (byUser.get(user) === res) byUser.delete(user);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "GET" && url.pathname === "/stream") {
    const user = url.searchParams.get("user") ?? "";
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.socket.setNoDelay(true);
    res.write("event: connected\ndata: {}\n\n");
    all.push(res);
    byUser.set(user, res);
    res.on("close", () => remove(res, user));
    return;
  }
  if (req.method === "POST" && url.pathname === "/publish") {
    const body = await readJson(req);
    const frame = Buffer.from(`id: ${++nextId}\nevent: bench\ndata: ${JSON.stringify(body.data)}\n\n`);
    if (body.to === undefined) {
      for (const target of all) target.write(frame);
    } else {
      byUser.get(body.to)?.write(frame);
    }
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    return;
  }
  res.writeHead(404).end();
});

setInterval(() => {
  const ping = Buffer.from(`: ping ${Date.now()}\n\n`);
  for (const res of all) res.write(ping);
}, heartbeatMs).unref();

listen(server);
