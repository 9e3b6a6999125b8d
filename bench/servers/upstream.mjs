// The proxy scenario's upstream API: a small JSON answer for every GET.
import { createServer } from "node:http";
import { listen } from "./comparator-io.mjs";

const body = Buffer.from(JSON.stringify({ id: 1, name: "item", price: 9.99, tags: ["a", "b"] }));
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
});
listen(server);
