// The naive limit: a minimal node:http SSE broadcaster. An array of responses, one
// pre-serialised frame written to each per event. No auth, no envelope, no resume.
// Topics (the topic fan-out scenario): a client connects with `&topics=a,b`, and a publish with
// `topic` goes to the clients holding that topic — a Map from topic to an array of responses.
// NAIVE_ENVELOPE=1 (the `naive-envelope` target of the latency scenarios) makes its frames as
// large as the gateway's: the same id and data wrapped in an envelope of the contract's shape.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { heartbeatMs, listen, readJson } from "./comparator-io.mjs";

const all = [];
const byUser = new Map();
/** topic → the responses holding it. */
const byTopic = new Map();
let nextId = 0;
const envelope = process.env.NAIVE_ENVELOPE === "1";

function frameOf(data) {
  const id = ++nextId;
  if (!envelope) return Buffer.from(`id: ${id}\nevent: bench\ndata: ${JSON.stringify(data)}\n\n`);
  const eventId = `0123456789ab-${id}`;
  const body = JSON.stringify({
    id: eventId,
    type: "bench",
    data,
    tenantId: "bench",
    timestamp: new Date().toISOString(),
    correlationId: randomUUID(),
  });
  return Buffer.from(`id: ${eventId}\nevent: bench\ndata: ${body}\n\n`);
}

function remove(res, user, topics) {
  const i = all.indexOf(res);
  if (i !== -1) all.splice(i, 1);
  if (byUser.get(user) === res) byUser.delete(user);
  for (const topic of topics) {
    const holders = byTopic.get(topic);
    const at = holders?.indexOf(res) ?? -1;
    if (at !== -1) holders.splice(at, 1);
    if (holders?.length === 0) byTopic.delete(topic);
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "GET" && url.pathname === "/stream") {
    const user = url.searchParams.get("user") ?? "";
    const topics = url.searchParams.get("topics")?.split(",").filter(Boolean) ?? [];
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.socket.setNoDelay(true);
    res.write("event: connected\ndata: {}\n\n");
    all.push(res);
    byUser.set(user, res);
    for (const topic of topics) {
      const holders = byTopic.get(topic);
      if (holders === undefined) byTopic.set(topic, [res]);
      else holders.push(res);
    }
    res.on("close", () => remove(res, user, topics));
    return;
  }
  if (req.method === "POST" && url.pathname === "/publish") {
    const body = await readJson(req);
    const frame = frameOf(body.data);
    if (body.topic !== undefined) {
      for (const target of byTopic.get(body.topic) ?? []) target.write(frame);
    } else if (body.to === undefined) {
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
