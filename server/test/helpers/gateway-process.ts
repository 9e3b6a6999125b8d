import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TEST_JWT_SECRET, TEST_STREAM_SECRET } from "./config.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/main.js");

/**
 * The gateway as a real process (`node server/dist/main.js`, built by `npx tsc -b`), for
 * tests that kill an instance or run several against one NATS.
 */
export class GatewayProcess {
  private output = "";
  exitCode: number | null | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve();
      child.once("exit", (code) => {
        this.exitCode = code;
        resolve();
      });
    });
  }

  get log(): string {
    return this.output.slice(-8000);
  }

  static start(env: Record<string, string>): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        JWT_SECRET: TEST_JWT_SECRET,
        STREAM_TOKEN_SECRET: TEST_STREAM_SECRET,
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`gateway did not start:\n${output}`));
      }, 20_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match !== null) {
          clearTimeout(timer);
          child.stdout?.off("data", onData);
          child.stderr?.off("data", onData);
          const gateway = new GatewayProcess(child, match[1] as string);
          gateway.output = output;
          child.stdout?.on("data", (c: Buffer) => gateway.append(c));
          child.stderr?.on("data", (c: Buffer) => gateway.append(c));
          resolve(gateway);
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited with ${code} before listening:\n${output}`));
      });
    });
  }

  /** Resolves once the process has exited (for any reason). */
  waitForExit(): Promise<void> {
    return this.exited;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.exitCode === undefined) this.child.kill(signal);
    return this.exited;
  }

  async publish(
    token: string,
    input: { type: string; data?: unknown; to: "me" | "tenant"; idempotencyKey?: string },
  ): Promise<{ requestId: string; status: string; id?: string }> {
    const res = await fetch(`${this.url}/trpc/events.publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ data: null, ...input }),
    });
    const body = (await res.json()) as { result?: { data: { requestId: string; status: string; id?: string } } };
    if (!res.ok || body.result === undefined) throw new Error(`publish failed: ${res.status} ${JSON.stringify(body)}`);
    return body.result.data;
  }

  private append(chunk: Buffer): void {
    this.output = (this.output + chunk.toString("utf8")).slice(-50_000);
  }
}
