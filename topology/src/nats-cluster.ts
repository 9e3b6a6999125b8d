import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";
import { httpStatus, until } from "./wait.js";

export type NatsNode = {
  /** `server_name`, as JetStream reports it (e.g. a stream's `cluster.leader`). */
  name: string;
  port: number;
  /** Monitoring port (`/healthz`, `/jsz`). */
  httpPort: number;
  process: ManagedProcess;
};

/**
 * Three `nats-server` processes routed into one JetStream cluster, each with its own store under
 * `dir`. A node can be killed and started again on the same store and ports (node loss).
 */
export class NatsCluster {
  private constructor(readonly nodes: NatsNode[]) {}

  /** Every node's client URL, comma-separated: what the gateways get as `NATS_URL`. */
  get urls(): string {
    return this.nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(",");
  }

  static async create(dir: string, binary: string): Promise<NatsCluster> {
    const names = ["nats-1", "nats-2", "nats-3"];
    const ports = [];
    for (const name of names) {
      ports.push({ name, port: await freePort(), httpPort: await freePort(), clusterPort: await freePort() });
    }
    const nodes: NatsNode[] = [];
    for (const node of ports) {
      const store = path.join(dir, node.name);
      await mkdir(store, { recursive: true });
      const routes = ports
        .filter((other) => other !== node)
        .map((other) => `"nats-route://127.0.0.1:${other.clusterPort}"`);
      const config = path.join(store, "nats.conf");
      await writeFile(
        config,
        [
          `server_name: ${node.name}`,
          `listen: "127.0.0.1:${node.port}"`,
          `http: "127.0.0.1:${node.httpPort}"`,
          `jetstream { store_dir: "${store}" }`,
          `cluster { name: circl, listen: "127.0.0.1:${node.clusterPort}", routes: [${routes.join(", ")}] }`,
          "",
        ].join("\n"),
      );
      const process = new ManagedProcess({
        name: node.name,
        command: binary,
        args: ["-c", config],
        logFile: path.join(dir, `${node.name}.log`),
      });
      nodes.push({ name: node.name, port: node.port, httpPort: node.httpPort, process });
    }
    const cluster = new NatsCluster(nodes);
    await Promise.all(nodes.map((node) => cluster.start(node.name)));
    return cluster;
  }

  node(name: string): NatsNode {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (node === undefined) throw new Error(`no NATS node ${name}`);
    return node;
  }

  /** Starts the node and waits until it listens (its JetStream may still be catching up). */
  async start(name: string): Promise<void> {
    const node = this.node(name);
    node.process.start();
    await node.process.waitForOutput(/Server is ready/, 20_000);
  }

  /** SIGKILL: the node vanishes without a word, as a lost machine would. */
  async kill(name: string): Promise<void> {
    await this.node(name).process.stop("SIGKILL");
  }

  /** Waits until every running node reports JetStream healthy (a meta leader is elected, its streams are current). */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await until(
      async () => {
        const running = this.nodes.filter((node) => node.process.running);
        const statuses = await Promise.all(
          running.map((node) => httpStatus(`http://127.0.0.1:${node.httpPort}/healthz`)),
        );
        return statuses.every((status) => status === 200);
      },
      timeoutMs,
      "a healthy JetStream cluster",
      200,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.process.stop("SIGTERM", 5000)));
    await Promise.all(this.nodes.map((node) => node.process.closeLog()));
  }
}
