// Socket.IO 4: websocket transport only, one room per tenant and per user, room broadcast.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { heartbeatMs, listen, readJson } from "./comparator-io.mjs";

const server = createServer(async (req, res) => {
  if (req.method === "POST" && req.url === "/publish") {
    const body = await readJson(req);
    io.to(body.to === undefined ? "tenant" : `user:${body.to}`).emit("bench", body.data);
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    return;
  }
  if (!req.url.startsWith("/socket.io/")) res.writeHead(404).end();
});

const io = new Server(server, {
  transports: ["websocket"],
  serveClient: false,
  pingInterval: heartbeatMs,
  pingTimeout: 20_000,
});
// Joined before the connect acknowledgement reaches the client.
io.use((socket, next) => {
  socket.join("tenant");
  socket.join(`user:${socket.handshake.query.user}`);
  next();
});

listen(server);
