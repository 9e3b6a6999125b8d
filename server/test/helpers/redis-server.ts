import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A private redis-server on a free port, nothing persisted; resolves once it accepts commands. */
export async function startRedis(): Promise<{
  url: string;
  stop: () => Promise<void>;
  /** Sends a signal to the server (SIGSTOP: it hangs with its sockets open; SIGCONT: it goes on). */
  signal: (signal: NodeJS.Signals) => void;
}> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    signal: (signal) => {
      child.kill(signal);
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
