import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const CANDIDATES = [process.env.NATS_SERVER_BIN, "nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"];

/** The nats-server binary, or undefined when the machine has none. */
export function findNatsServer(): string | undefined {
  for (const candidate of CANDIDATES) {
    if (candidate === undefined) continue;
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

/**
 * Whether the NATS suites can run here. In CI a missing nats-server is a failure, never a skip;
 * on a developer machine without one the suites are skipped with a visible reason.
 */
export function natsAvailable(): boolean {
  const found = findNatsServer() !== undefined;
  if (!found && process.env.CI === "true") {
    throw new Error("nats-server is required for the NATS suites in CI (apt-get install nats-server)");
  }
  if (!found) process.stderr.write("nats-server not found: NATS suites skipped (they fail when CI=true)\n");
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real `nats-server -js` on a free port with its own store directory, owned by one test
 * suite. `stop()` and `start()` again keep the port and the store (broker outage tests).
 */
export class NatsServer {
  private process: ChildProcess | undefined;
  private output = "";

  private constructor(
    private readonly binary: string,
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Recent server output, for failure messages. */
  get log(): string {
    return this.output.slice(-4000);
  }

  /**
   * `maxPayload`: the server's `max_payload` (16 MB unless a test needs a small one); `extra`:
   * more configuration lines (e.g. a small `max_pending` to provoke slow consumers).
   */
  static async create(maxPayload = 16 * 1024 * 1024, extra = ""): Promise<NatsServer> {
    const binary = findNatsServer();
    if (binary === undefined) throw new Error("nats-server not found");
    const dir = await mkdtemp(path.join(tmpdir(), "circl-nats-"));
    // Backends may send up to 16 MB here, so the gateway's own size limit is what gets tested.
    await writeFile(path.join(dir, "nats.conf"), `max_payload: ${maxPayload}\n${extra}`);
    const server = new NatsServer(binary, await freePort(), dir);
    await server.start();
    return server;
  }

  /** Changes `max_payload` for the next `start()`. */
  async setMaxPayload(bytes: number): Promise<void> {
    await writeFile(path.join(this.dir, "nats.conf"), `max_payload: ${bytes}\n`);
  }

  start(): Promise<void> {
    if (this.process !== undefined) return Promise.resolve();
    const child = spawn(
      this.binary,
      ["-c", path.join(this.dir, "nats.conf"), "-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.dir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.process = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${this.log}`)), 15_000);
      const onData = (chunk: Buffer) => {
        this.output = (this.output + chunk.toString("utf8")).slice(-20_000);
        if (this.output.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        if (this.process === child) this.process = undefined;
        reject(new Error(`nats-server exited with ${code}:\n${this.log}`));
      });
    });
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child === undefined) return;
    this.process = undefined;
    this.output = "";
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
