import path from "node:path";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";

/** A `redis-server` on a free port of 127.0.0.1 that persists nothing; stopped and started on the same port. */
export class RedisServer {
  private constructor(
    readonly port: number,
    readonly process: ManagedProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async create(dir: string, binary: string): Promise<RedisServer> {
    const port = await freePort();
    const process = new ManagedProcess({
      name: "redis",
      command: binary,
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      cwd: dir,
      logFile: path.join(dir, "redis.log"),
    });
    const redis = new RedisServer(port, process);
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.process.start();
    await this.process.waitForOutput(/Ready to accept connections/, 15_000);
  }

  async stop(): Promise<void> {
    await this.process.stop("SIGTERM", 5000);
  }
}
