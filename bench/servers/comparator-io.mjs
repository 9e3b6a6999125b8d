/** Reads a small JSON request body (the comparators' publish endpoint). */
export function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (error) {
        reject(error);
      }
    });
    req.on("error", reject);
  });
}

/**
 * Listens on `PORT` and prints `listening <port>` once it accepts connections. With Fastify's
 * keep-alive timeout (72 s, the gateway's) instead of node:http's 5 s: a saturated server whose
 * loop lags by seconds would otherwise close a keep-alive socket while a publish request is
 * already on it (ECONNRESET on the load generator).
 */
export function listen(server) {
  server.keepAliveTimeout = 72_000;
  server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
}

export const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? 15_000);
