// better-sse: sessions registered with a channel, broadcast through the channel.
import { createServer } from "node:http";
import { createChannel, createSession } from "better-sse";
import { heartbeatMs, listen, readJson } from "./comparator-io.mjs";

const channel = createChannel();
const byUser = new Map();

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "GET" && url.pathname === "/stream") {
    const user = url.searchParams.get("user") ?? "";
    res.socket.setNoDelay(true);
    const session = await createSession(req, res, { keepAlive: heartbeatMs });
    channel.register(session);
    byUser.set(user, session);
    session.on("disconnected", () => {
      if (byUser.get(user) === session) byUser.delete(user);
    });
    session.push({}, "connected");
    return;
  }
  if (req.method === "POST" && url.pathname === "/publish") {
    const body = await readJson(req);
    if (body.to === undefined) channel.broadcast(body.data, "bench");
    else byUser.get(body.to)?.push(body.data, "bench");
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    return;
  }
  res.writeHead(404).end();
});

listen(server);
