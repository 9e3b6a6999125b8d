import path from "node:path";
import { fileURLToPath } from "node:url";
import { ManagedProcess } from "./managed-process.js";
import { httpStatus, until } from "./wait.js";

/** The built gateway, as the README and the Docker image start it (`node server/dist/main.js`). */
export const GATEWAY_MAIN = fileURLToPath(new URL("../../server/dist/main.js", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** One gateway process on a fixed port; stopped and started again on the same port (rolling restarts). */
export class GatewayInstance {
  readonly process: ManagedProcess;

  constructor(
    readonly name: string,
    readonly port: number,
    env: Record<string, string>,
    dir: string,
  ) {
    this.process = new ManagedProcess({
      name,
      command: process.execPath,
      args: [GATEWAY_MAIN],
      cwd: REPO_ROOT,
      env: { ...env, PORT: String(port) },
      logFile: path.join(dir, `${name}.log`),
    });
  }

  /** Its own address, bypassing the proxy. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until `/ready` answers 200 (NATS connected, stream adopted). */
  async start(timeoutMs = 30_000): Promise<void> {
    this.process.start();
    const exited = this.process.exited.then((exit) => {
      throw new Error(
        `${this.name} exited (${JSON.stringify(exit)}) while starting:\n${this.process.output.slice(-4000)}`,
      );
    });
    exited.catch(() => undefined);
    await Promise.race([this.waitReady(timeoutMs), exited]);
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await until(async () => (await httpStatus(`${this.url}/ready`)) === 200, timeoutMs, `${this.name} /ready`);
  }

  /** The dev access token its banner printed (development mode only). */
  async devToken(): Promise<string> {
    const [, token] = await this.process.waitForOutput(/export TOKEN=(\S+)/, 10_000);
    return token as string;
  }

  /** SIGTERM: the graceful shutdown a supervisor asks for; resolves once the process has exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.process.stop(signal, 15_000);
  }
}
