import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { findNatsServer, freePort } from "./nats-server.js";

type Node = { name: string; port: number; clusterPort: number; dir: string; process?: ChildProcess; output: string };

/**
 * Three local `nats-server -js` processes routed into one JetStream cluster, each with its own
 * store, so a test can SIGKILL a stream's leader and start it again on the same store.
 */
export class NatsCluster {
  private constructor(
    private readonly binary: string,
    private readonly root: string,
    readonly nodes: Node[],
  ) {}

  /** Every node's client URL, comma-separated (what `NATS_URL` takes). */
  get urls(): string {
    return this.nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(",");
  }

  static async create(): Promise<NatsCluster> {
    const binary = findNatsServer();
    if (binary === undefined) throw new Error("nats-server not found");
    const root = await mkdtemp(path.join(tmpdir(), "circl-nats-cluster-"));
    const nodes: Node[] = [];
    for (const name of ["n1", "n2", "n3"]) {
      const dir = path.join(root, name);
      await mkdir(dir);
      nodes.push({ name, port: await freePort(), clusterPort: await freePort(), dir, output: "" });
    }
    for (const node of nodes) {
      const routes = nodes
        .filter((other) => other !== node)
        .map((other) => `"nats-route://127.0.0.1:${other.clusterPort}"`);
      await writeFile(
        path.join(node.dir, "nats.conf"),
        [
          `server_name: ${node.name}`,
          `listen: 127.0.0.1:${node.port}`,
          `jetstream { store_dir: "${node.dir}" }`,
          `cluster { name: circl, listen: "127.0.0.1:${node.clusterPort}", routes: [${routes.join(", ")}] }`,
        ].join("\n"),
      );
    }
    const cluster = new NatsCluster(binary, root, nodes);
    await Promise.all(nodes.map((node) => cluster.start(node.name)));
    return cluster;
  }

  start(name: string): Promise<void> {
    const node = this.node(name);
    if (node.process !== undefined) return Promise.resolve();
    const child = spawn(this.binary, ["-c", path.join(node.dir, "nats.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    node.process = child;
    node.output = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${node.output.slice(-3000)}`)), 20_000);
      const onData = (chunk: Buffer) => {
        node.output = (node.output + chunk.toString("utf8")).slice(-20_000);
        if (node.output.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", () => {
        clearTimeout(timer);
        if (node.process === child) node.process = undefined;
      });
    });
  }

  /** SIGKILL: the node dies without a word, as a lost machine would. */
  async kill(name: string): Promise<void> {
    const node = this.node(name);
    const child = node.process;
    if (child === undefined) return;
    node.process = undefined;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }

  async destroy(): Promise<void> {
    for (const node of this.nodes) await this.kill(node.name);
    await rm(this.root, { recursive: true, force: true });
  }

  private node(name: string): Node {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (node === undefined) throw new Error(`no node ${name}`);
    return node;
  }
}
