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

/** The port from the environment; every comparator prints `listening <port>` once it accepts connections. */
export function listenPort() {
  return Number(process.env.PORT ?? 0);
}

export function announce(server) {
  process.stdout.write(`listening ${server.address().port}\n`);
}

export const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? 15_000);
