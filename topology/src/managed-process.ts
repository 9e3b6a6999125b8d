import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";

export type ProcessSpec = {
  /** Shown in errors and log file names. */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Every byte the process writes (stdout and stderr) is appended here. */
  logFile: string;
};

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/**
 * One child process of the topology: its output goes to a log file and a bounded in-memory tail
 * (for error messages), and it can be stopped with a signal and awaited. Started again with
 * `start()` after it exited, with the same command, environment and log file.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private tail = "";
  private exit: Promise<Exit> = Promise.resolve({ code: null, signal: null });

  constructor(readonly spec: ProcessSpec) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The end of the output since the last start. */
  get output(): string {
    return this.tail;
  }

  /** Resolves when the current (or last) run has exited. */
  get exited(): Promise<Exit> {
    return this.exit;
  }

  start(): void {
    if (this.child !== undefined) throw new Error(`${this.spec.name} is already running`);
    this.log ??= createWriteStream(this.spec.logFile, { flags: "a" });
    this.tail = "";
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...this.spec.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    const onData = (chunk: Buffer) => {
      this.log?.write(chunk);
      this.tail = (this.tail + chunk.toString("utf8")).slice(-64_000);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    // `close`: after the exit and after stdout/stderr were read to the end.
    this.exit = new Promise((resolve) => {
      child.once("error", (error) => {
        this.tail += `\nspawn failed: ${error.message}`;
      });
      child.once("close", (code, signal) => {
        if (this.child === child) this.child = undefined;
        resolve({ code, signal });
      });
    });
  }

  /** Resolves with the match once the output since the start matches; rejects on exit or timeout. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const child = this.child;
      if (child === undefined) {
        reject(new Error(`${this.spec.name} is not running${this.describe()}`));
        return;
      }
      let settled = false;
      const finish = (error?: Error, match?: RegExpMatchArray) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.stdout?.off("data", check);
        child.stderr?.off("data", check);
        if (error !== undefined) reject(error);
        else resolve(match as RegExpMatchArray);
      };
      const check = () => {
        const match = pattern.exec(this.tail);
        if (match !== null) finish(undefined, match);
      };
      const timer = setTimeout(
        () => finish(new Error(`${this.spec.name}: no ${pattern} within ${timeoutMs} ms${this.describe()}`)),
        timeoutMs,
      );
      // Registered after the logging listener, so `tail` already holds the chunk.
      child.stdout?.on("data", check);
      child.stderr?.on("data", check);
      void this.exit.then((exit) =>
        finish(new Error(`${this.spec.name} exited (${JSON.stringify(exit)}) before ${pattern}${this.describe()}`)),
      );
      check();
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs` if it is still running. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<Exit> {
    const child = this.child;
    if (child === undefined) return this.exit;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    const exit = await this.exit;
    clearTimeout(timer);
    return exit;
  }

  /** Closes the log file (after the process has exited). */
  async closeLog(): Promise<void> {
    const log = this.log;
    this.log = undefined;
    if (log !== undefined) await new Promise<void>((resolve) => log.end(resolve));
  }

  private describe(): string {
    return `\n--- ${this.spec.name} output (${this.spec.logFile}) ---\n${this.tail.slice(-4000)}`;
  }
}
