import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { CADDYFILE, GATEWAY_MAIN } from "../../topology/src/index.js";
import { CONFIG_VARIABLES, loadConfig } from "../src/config.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, "utf8");

type Service = {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string | string[];
  environment?: Record<string, string>;
  expose?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
};
const compose = parse(read("deploy/compose.yaml"), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const gatewayNames = Object.keys(services).filter((name) => services[name]?.build?.dockerfile === "deploy/Dockerfile");
const natsNames = Object.keys(services).filter((name) => services[name]?.image?.startsWith("nats:"));

/** Compose's interpolation: `${VAR:-default}` → default, `${VAR:?message}` → `given[VAR]`. */
function interpolate(value: string, given: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_]+)(?::([-?])([^}]*))?\}/g, (_all, name: string, kind?: string, rest?: string) => {
    if (given[name] !== undefined) return given[name];
    if (kind === "-") return rest ?? "";
    throw new Error(`compose needs ${name}: ${rest}`);
  });
}
const secrets = {
  STREAM_TOKEN_SECRET: "deploy-test-stream-secret-0123456789abcdef",
  METRICS_TOKEN: "deploy-test-metrics-token",
  JWT_SECRET: "deploy-test-jwt-secret-0123456789abcdef-0123",
};
const gatewayEnv = (name: string) =>
  Object.fromEntries(
    Object.entries(services[name]?.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), secrets)]),
  );

/** The Dockerfile's instructions, continuation lines joined. */
const dockerfile = read("deploy/Dockerfile")
  .replace(/\\\n/g, " ")
  .split("\n")
  .filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
const finalStage = dockerfile.slice(dockerfile.findLastIndex((line) => line.startsWith("FROM ")));
const envOf = (lines: string[]) =>
  Object.fromEntries(
    lines
      .filter((line) => line.startsWith("ENV "))
      .flatMap((line) => [...line.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]])),
  ) as Record<string, string>;

function caddyAdapt(env: Record<string, string>) {
  const result = spawnSync("caddy", ["adapt", "--config", CADDYFILE, "--adapter", "caddyfile"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", ...env },
    encoding: "utf8",
  });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as {
    apps: {
      http: { servers: Record<string, { listen: string[]; protocols?: string[]; routes: unknown[] }> };
      tls?: { automation?: { policies?: { issuers?: { module: string }[] }[] } };
    };
  };
}

/** Every object in `value` (depth first) that has `key`. */
function findAll<T>(value: unknown, key: string): T[] {
  if (value === null || typeof value !== "object") return [];
  const here = key in value ? [value as T] : [];
  return [...here, ...Object.values(value).flatMap((child) => findAll<T>(child, key))];
}

describe("deploy/compose.yaml", () => {
  it("defines two gateways from one definition, each with its own journal volume", () => {
    expect(gatewayNames).toEqual(["gateway-1", "gateway-2"]);
    const [a, b] = gatewayNames.map((name) => services[name] as Service);
    expect(a?.environment).toEqual(b?.environment);
    expect({ ...a, volumes: undefined }).toEqual({ ...b, volumes: undefined });
    expect(a?.volumes).not.toEqual(b?.volumes);
    expect(a?.ports).toBeUndefined(); // only the proxy is reachable from outside
  });

  it("gives the gateways only variables the config schema reads, and the config loads from them in production", () => {
    for (const name of gatewayNames) {
      const unknown = Object.keys(services[name]?.environment ?? {}).filter((key) => !CONFIG_VARIABLES.includes(key));
      expect(unknown, `${name}: not read by server/src/config.ts`).toEqual([]);
    }
    const config = loadConfig(gatewayEnv("gateway-1"));
    expect(config.production).toBe(true);
    expect(config.nats.replicas).toBe(3);
    expect(config.nats.urls).toEqual(natsNames.map((name) => `nats://${name}:4222`));
    expect(new URL(config.rateLimit.redisUrl as string).hostname).toBe("redis");
    expect(services.redis).toBeDefined();
    expect(config.port).toBe(3000);
    expect(services["gateway-1"]?.expose).toEqual([String(config.port)]);
    expect(config.trustProxy).toBe(1);
  });

  it("runs three NATS nodes with JetStream, routed to each other, that the gateways wait for", () => {
    expect(natsNames).toEqual(["nats-1", "nats-2", "nats-3"]);
    for (const name of natsNames) {
      const command = services[name]?.command ?? [];
      const args = typeof command === "string" ? command : command.join(" ");
      expect(args).toContain("--jetstream");
      expect(args).toContain(`--name ${name}`);
      expect(args).toContain("--cluster nats://0.0.0.0:6222");
      expect(args).toContain(`--routes ${natsNames.map((node) => `nats-route://${node}:6222`).join(",")}`);
      expect(services["gateway-1"]?.depends_on?.[name]).toEqual({ condition: "service_healthy" });
    }
  });

  it("mounts deploy/Caddyfile, and with Compose's values Caddy proxies to both gateways' PORT with /ready health checks, no buffering, HTTP/2", () => {
    const caddy = services.caddy as Service;
    expect(caddy.volumes).toContain("./Caddyfile:/etc/caddy/Caddyfile:ro");
    const env = Object.fromEntries(
      Object.entries(caddy.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), {})]),
    );
    // Every placeholder of the Caddyfile is set by Compose or has a default.
    for (const [, name, fallback] of read("deploy/Caddyfile").matchAll(/\{\$([A-Z_]+)(?::([^}]*))?\}/g)) {
      expect(env[name as string] ?? fallback, `{$${name}}`).toBeDefined();
    }
    const adapted = caddyAdapt(env);
    const [proxy, ...others] = findAll<{
      handler: string;
      upstreams: { dial: string }[];
      flush_interval: number;
      health_checks: { active: { uri: string; expect_status: number } };
      load_balancing: { selection_policy: { policy: string }; try_duration: number };
    }>(adapted, "upstreams");
    expect(others).toEqual([]);
    expect(proxy?.upstreams.map((u) => u.dial)).toEqual(gatewayNames.map((name) => `${name}:${gatewayEnv(name).PORT}`));
    expect(proxy?.health_checks.active).toMatchObject({ uri: "/ready", expect_status: 200 });
    expect(proxy?.flush_interval).toBe(-1);
    expect(proxy?.load_balancing.selection_policy.policy).toBe("least_conn");
    expect(proxy?.load_balancing.try_duration).toBeGreaterThan(0);
    const server = Object.values(adapted.apps.http.servers)[0];
    expect(server?.listen).toEqual(["0.0.0.0:443"]);
    expect(server?.protocols).toContain("h2");
    expect(findAll<{ encodings: unknown }>(adapted, "encodings")).toEqual([]); // no compression of streams
    expect(adapted.apps.tls?.automation?.policies?.[0]?.issuers?.[0]?.module).toBe("internal");
  });
});

describe("deploy/Dockerfile", () => {
  it("builds in stages and runs production dependencies only, as a non-root user", () => {
    expect(dockerfile.filter((line) => line.startsWith("FROM ")).length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toContain("RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund");
    // The final stage takes node_modules from the production-only stage, never the build's.
    const deps = dockerfile.find((line) => line.includes("npm ci --omit=dev"));
    const depsStage = dockerfile
      .slice(0, dockerfile.indexOf(deps as string))
      .findLast((line) => line.startsWith("FROM "))
      ?.split(" AS ")[1];
    expect(finalStage).toContain(`COPY --from=${depsStage} /app/node_modules ./node_modules`);
    const user = finalStage.find((line) => line.startsWith("USER "))?.slice(5);
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
  });

  it("copies only what exists after npm run build", () => {
    for (const line of dockerfile.filter((l) => l.startsWith("COPY ") && !l.includes("COPY . ."))) {
      const parts = line.split(/\s+/).filter((part) => !part.startsWith("--"));
      for (const source of parts.slice(1, -1)) {
        const path = source.replace(/^\/app\//, "");
        expect(existsSync(`${root}${path}`), `${line}: ${path}`).toBe(true);
      }
    }
  });

  it("checks /health on its PORT and starts the gateway with the README's command", () => {
    const env = envOf(finalStage);
    expect(env.NODE_ENV).toBe("production");
    expect(finalStage).toContain(`EXPOSE ${env.PORT}`);
    expect(env.PORT).toBe(gatewayEnv("gateway-1").PORT);
    const healthcheck = finalStage.find((line) => line.startsWith("HEALTHCHECK "));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the image's JavaScript, as written in the Dockerfile
    expect(healthcheck).toContain("http://127.0.0.1:${process.env.PORT}/health");
    const cmd = finalStage.find((line) => line.startsWith("CMD "));
    const command = (JSON.parse(cmd?.slice(4) ?? "[]") as string[]).join(" ");
    expect(command).toBe("node server/dist/main.js");
    expect(read("README.md")).toContain(command);
    expect(GATEWAY_MAIN).toBe(`${root}server/dist/main.js`);
    // The journal directory the image declares is the one the volumes are mounted on.
    expect(services["gateway-1"]?.volumes?.[0]).toBe(`journal-1:${env.NATS_PUBLISH_JOURNAL_DIR}`);
  });
});

describe("docs/deploy.md's Kubernetes manifests", () => {
  const blocks = [...read("docs/deploy.md").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const docs = blocks.flatMap((block) => parseAllDocuments(block).map((doc) => doc.toJS()));
  const byKind = (kind: string) => docs.find((doc) => doc?.kind === kind);

  it("probe readiness on /ready and liveness on /health, drain after preStop within the grace period", () => {
    const deployment = byKind("Deployment");
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string }) => [
        e.name,
        e.value ?? "from-a-secret-0123456789-0123456789",
      ]),
    ) as Record<string, string>;
    expect(Object.keys(env).filter((key) => !CONFIG_VARIABLES.includes(key))).toEqual([]);
    const config = loadConfig(env);
    expect(config.production).toBe(true);
    expect(config.nats.replicas).toBe(3);
    const port = container.ports.find((p: { name: string }) => p.name === "http").containerPort;
    expect(port).toBe(config.port);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe("sleep");
    // close-with-grace ends the process after 10 s (server/src/main.ts).
    expect(read("server/src/main.ts")).toContain("closeWithGrace({ delay: 10_000 }");
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(preStop[1]) + 10);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(deployment.spec.minReadySeconds).toBeGreaterThan(0);
    const secretRefs = container.env.filter((e: { valueFrom?: unknown }) => e.valueFrom !== undefined);
    expect(secretRefs.map((e: { name: string }) => e.name).sort()).toEqual(["METRICS_TOKEN", "STREAM_TOKEN_SECRET"]);
  });

  it("limit voluntary disruptions to one gateway at a time", () => {
    const pdb = byKind("PodDisruptionBudget");
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector).toEqual(byKind("Deployment").spec.selector);
  });
});
