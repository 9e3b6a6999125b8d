import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_JWT_SECRET } from "../../server/test/helpers/config.js";
import { type Gateway, startGateway } from "../../server/test/helpers/gateway.js";

const run = promisify(execFile);
let dir: string;
let cli: string;
let gw: Gateway;

// The CLI is bundled from source here (the packed build is covered by pack.test.ts).
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "circl-bff-cli-"));
  cli = join(dir, "cli.mjs");
  await build({
    entryPoints: [new URL("../src/cli.ts", import.meta.url).pathname],
    outfile: cli,
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "silent",
  });
  gw = await startGateway();
});

afterAll(async () => {
  await gw?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function circlBff(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe("circl-bff token", () => {
  it("prints an access token the gateway accepts, with the given user, tenant and roles", async () => {
    const result = await circlBff(["token", "--sub", "u1", "--tenant", "t1", "--roles", "admin"], {
      JWT_SECRET: TEST_JWT_SECRET,
    });
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    expect(token.split(".")).toHaveLength(3);
    // Accepted: it can publish to the tenant, which needs the admin role.
    const published = await gw.publish(token, { type: "cli.check", data: 1, to: "tenant" });
    expect(published.status).toBe("published");
    const claims = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString());
    expect(claims).toMatchObject({ sub: "u1", tenantId: "t1", roles: ["admin"] });
    expect(claims.exp - claims.iat).toBe(3600);
  });

  it("takes the secret from --secret and the lifetime from --ttl; a wrong secret is refused by the gateway", async () => {
    const result = await circlBff([
      "token",
      "--sub",
      "u2",
      "--tenant",
      "t1",
      "--ttl",
      "60",
      "--secret",
      "x".repeat(32),
    ]);
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString());
    expect(claims.exp - claims.iat).toBe(60);
    const response = await fetch(`${gw.url}/events/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(401);
  });

  it("refuses to run with NODE_ENV=production", async () => {
    const result = await circlBff(["token", "--sub", "u1", "--tenant", "t1"], {
      NODE_ENV: "production",
      JWT_SECRET: TEST_JWT_SECRET,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("refusing");
  });

  it("explains missing arguments and short secrets instead of printing a token", async () => {
    for (const [args, message] of [
      [["token", "--tenant", "t1"], "--sub is required"],
      [["token", "--sub", "u1"], "--tenant is required"],
      [["token", "--sub", "u1", "--tenant", "t1"], "--secret or JWT_SECRET is required"],
      [["token", "--sub", "u1", "--tenant", "t1", "--secret", "short"], "at least 32 bytes"],
      [["token", "--sub", "u1", "--tenant", "t1", "--bogus", "1"], "bogus"],
      [["mint"], 'unknown command "mint"'],
    ] as const) {
      const result = await circlBff([...args]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(message);
    }
  });

  it("--help (and -h, help, token --help) prints the commands and options on stdout and exits 0", async () => {
    for (const args of [["--help"], ["-h"], ["help"], ["token", "--help"], ["token", "--sub", "u1", "-h"]]) {
      const result = await circlBff(args);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      expect(result.stdout).toContain("usage: circl-bff token --sub <user> --tenant <tenant>");
      expect(result.stdout).toContain("--secret <secret>");
      expect(result.stdout).toContain("JWT_SECRET");
    }
    // A user id that reads like a command is still a user id.
    const token = await circlBff(["token", "--sub", "help", "--tenant", "t1"], { JWT_SECRET: TEST_JWT_SECRET });
    expect(token.code).toBe(0);
    expect(token.stdout.split(".")).toHaveLength(3);
  });

  it("a mistake points at --help", async () => {
    const result = await circlBff(["mint"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("circl-bff --help");
  });
});

// The root depends on the client workspace, so npm links its bin into node_modules/.bin (and
// `postbuild` links it again once dist/cli.js exists: a fresh clone's `npm ci` runs before it does).
describe("npx circl-bff in the repository root", () => {
  const root = new URL("../..", import.meta.url).pathname;

  it("runs the client's CLI: a token the gateway accepts", async () => {
    const { stdout } = await run("npx", ["--no-install", "circl-bff", "token", "--sub", "u3", "--tenant", "t1"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", JWT_SECRET: TEST_JWT_SECRET },
    });
    const token = stdout.trim();
    const response = await fetch(`${gw.url}/events/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
  });
});
