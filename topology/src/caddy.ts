import { readFile } from "node:fs/promises";
import https from "node:https";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ManagedProcess } from "./managed-process.js";
import { until } from "./wait.js";

/** The same Caddyfile deploy/compose.yaml mounts; the topology fills its placeholders in. */
export const CADDYFILE = fileURLToPath(new URL("../../deploy/Caddyfile", import.meta.url));

export type CaddyOptions = {
  binary: string;
  dir: string;
  httpsPort: number;
  httpPort: number;
  upstreams: string[];
};

/**
 * Caddy in front of the gateways: TLS from its internal CA (the root certificate is read back for
 * clients that verify it), HTTP/2, least-connections balancing with `/ready` health checks.
 */
export class Caddy {
  private constructor(
    readonly process: ManagedProcess,
    readonly port: number,
    private readonly dataDir: string,
  ) {}

  static async start(options: CaddyOptions): Promise<Caddy> {
    const dataDir = path.join(options.dir, "caddy-data");
    const process = new ManagedProcess({
      name: "caddy",
      command: options.binary,
      args: ["run", "--config", CADDYFILE, "--adapter", "caddyfile"],
      env: {
        // Where the internal CA and its certificates are kept: this topology's own folder.
        XDG_DATA_HOME: dataDir,
        XDG_CONFIG_HOME: path.join(options.dir, "caddy-config"),
        CADDY_ADMIN: "off",
        CADDY_HTTP_PORT: String(options.httpPort),
        CADDY_HTTPS_PORT: String(options.httpsPort),
        CIRCL_SITE: "localhost, 127.0.0.1",
        CIRCL_BIND: "127.0.0.1",
        CIRCL_TLS: "internal",
        CIRCL_UPSTREAMS: options.upstreams.join(" "),
      },
      logFile: path.join(options.dir, "caddy.log"),
    });
    const caddy = new Caddy(process, options.httpsPort, dataDir);
    process.start();
    try {
      await caddy.waitServing();
    } catch (error) {
      await process.stop("SIGKILL");
      throw error;
    }
    return caddy;
  }

  get url(): string {
    return `https://localhost:${this.port}`;
  }

  /** PEM of the internal CA's root: pass it as `ca` to verify the proxy's certificate. */
  caCertificate(): Promise<string> {
    return readFile(path.join(this.dataDir, "caddy", "pki", "authorities", "local", "root.crt"), "utf8");
  }

  /** Waits until `/health` answers 200 through the proxy over verified TLS. */
  private async waitServing(): Promise<void> {
    await until(
      async () => {
        const ca = await this.caCertificate();
        return (await tlsStatus(`https://127.0.0.1:${this.port}/health`, ca)) === 200;
      },
      20_000,
      "Caddy to serve /health over TLS",
      200,
    );
  }

  async stop(): Promise<void> {
    await this.process.stop("SIGTERM", 5000);
    await this.process.closeLog();
  }
}

function tlsStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const request = https.get(url, { ca, timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(0));
  });
}
