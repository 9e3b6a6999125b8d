import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TEST_JWT_SECRET, TEST_STREAM_SECRET } from "./config.js";

/** The built entry point; the test run happens after `npm run build`. */
export const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type SpawnedGateway = {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Settles after the exit, once stdout and stderr have been read to the end. */
  exited: Promise<Exit>;
  /** Resolves with the match once stdout matches; rejects if the process exits first or on timeout. */
  waitForStdout: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  /** Resolves with the exit; rejects when the process is still running after `timeoutMs`. */
  waitForExit: (timeoutMs?: number) => Promise<Exit>;
};

/** Starts `node server/dist/main.js` with exactly `env` (plus PATH and HOME), from the repository root. */
export function spawnGateway(env: Record<string, string>, options: { openFilesLimit?: number } = {}): SpawnedGateway {
  // A descriptor limit of its own: the shell lowers it, then becomes the node process (`exec`).
  const [command, args] =
    options.openFilesLimit === undefined
      ? [process.execPath, [MAIN]]
      : ["/bin/sh", ["-c", `ulimit -n ${options.openFilesLimit} && exec "$0" "$@"`, process.execPath, MAIN]];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  // `close` fires after the exit and after stdout/stderr have been read to the end.
  const exited = new Promise<Exit>((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const describeOutput = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStdout(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        let done = false;
        const cleanup = () => {
          done = true;
          clearTimeout(timer);
          child.stdout?.off("data", check);
        };
        const check = () => {
          const match = pattern.exec(stdout);
          if (match === null) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`stdout did not match ${pattern} within ${timeoutMs} ms${describeOutput()}`));
        }, timeoutMs);
        child.stdout?.on("data", check);
        void exited.then((exit) => {
          if (done) return;
          cleanup();
          reject(
            new Error(`process exited (${JSON.stringify(exit)}) before stdout matched ${pattern}${describeOutput()}`),
          );
        });
        check();
      });
    },
    waitForExit(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`process still running after ${timeoutMs} ms${describeOutput()}`)),
          timeoutMs,
        );
        void exited.then((exit) => {
          clearTimeout(timer);
          resolve(exit);
        });
      });
    },
  };
}

/**
 * A listening gateway process with the test secrets, for tests that kill an instance or run
 * several against one NATS.
 */
export class GatewayProcess {
  /** Undefined while it runs; null when a signal ended it. */
  exitCode: number | null | undefined;

  private constructor(
    private readonly spawned: SpawnedGateway,
    readonly url: string,
  ) {
    void spawned.exited.then((exit) => {
      this.exitCode = exit.code;
    });
  }

  static async start(env: Record<string, string>, options: { openFilesLimit?: number } = {}): Promise<GatewayProcess> {
    const spawned = spawnGateway(
      {
        JWT_SECRET: TEST_JWT_SECRET,
        STREAM_TOKEN_SECRET: TEST_STREAM_SECRET,
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        ...env,
      },
      options,
    );
    try {
      const [, url] = await spawned.waitForStdout(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
      return new GatewayProcess(spawned, url as string);
    } catch (error) {
      spawned.child.kill("SIGKILL");
      throw error;
    }
  }

  /** Its output so far (the end of it). */
  get log(): string {
    return (this.spawned.stdout() + this.spawned.stderr()).slice(-8000);
  }

  /** Resolves once the process has exited (for any reason). */
  async waitForExit(): Promise<void> {
    await this.spawned.exited;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.exitCode === undefined) this.spawned.child.kill(signal);
    await this.spawned.exited;
  }

  async publish(
    token: string,
    input: { type: string; data?: unknown; to: "me" | "tenant" | { topic: string }; idempotencyKey?: string },
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
}
