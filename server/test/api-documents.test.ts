import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Parser } from "@asyncapi/parser";
import { defineEvents, eventCatalog, RESERVED_EVENT_TYPES } from "@circl-bff/shared";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { buildApiDocuments } from "../src/api-docs/index.js";
import type { Gateway } from "./helpers/gateway.js";
import { gatewayFixture } from "./helpers/gateway-fixture.js";

const { gateway, openStream } = gatewayFixture();
const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const catalogTypes = Object.keys(eventCatalog);

// biome-ignore lint/suspicious/noExplicitAny: the tests walk parsed JSON documents
type Json = { [key: string]: any };

/** Fetches a document the way a tool would: no credentials. */
async function document(gw: Gateway, path: string): Promise<{ status: number; type: string | null; body: Json }> {
  const res = await fetch(`${gw.url}${path}`);
  return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as Json };
}

/** Follows a local `$ref` (`#/components/...`). */
function deref(doc: Json, node: Json): Json {
  if (typeof node.$ref !== "string") return node;
  return (node.$ref as string)
    .slice(2)
    .split("/")
    .reduce<Json>((at, key) => at[key], doc);
}

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document, served without authentication, of the gateway's own routes", async () => {
    const gw = await gateway();
    const { status, type, body: doc } = await document(gw, "/openapi.json");
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);

    const result = await new Validator().validate(doc);
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.0");

    const operations = Object.entries(doc.paths as Json).flatMap(([path, item]) =>
      Object.keys(item as Json).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual([
      "GET /events/stream",
      "GET /health",
      "GET /metrics",
      "GET /ready",
      "POST /events/publish",
      "POST /events/token",
    ]);
    // Every documented route is a route of the gateway (answered, not 404), and the ones that
    // need a credential refuse a request without one in the documented error shape.
    for (const operation of operations) {
      const [method, path] = operation.split(" ") as [string, string];
      const res = await fetch(`${gw.url}${path}`, { method });
      expect(res.status, operation).not.toBe(404);
      const security = doc.paths[path][method.toLowerCase()].security as Json[];
      const needsAuth = security.length > 0 && security.every((requirement) => Object.keys(requirement).length > 0);
      if (needsAuth) {
        expect(res.status, operation).toBe(401);
        expect(Object.keys((await res.json()) as Json).sort()).toEqual(
          [...deref(doc, doc.components.schemas.ErrorBody).required].sort(),
        );
      } else {
        await res.body?.cancel();
      }
    }

    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.ErrorBody).toMatchObject({
      type: "object",
      required: ["statusCode", "error", "message", "requestId"],
      properties: { issues: { type: "array" } },
    });

    const publish = doc.paths["/events/publish"].post;
    expect(publish.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(publish.responses).sort()).toEqual(["200", "400", "401", "403", "413", "415", "429", "503"]);
    expect(deref(doc, publish.responses["200"].content["application/json"].schema).required).toEqual([
      "requestId",
      "status",
    ]);
    for (const code of ["400", "401", "403", "413", "415", "429", "503"]) {
      const response = deref(doc, publish.responses[code]);
      expect(response.content["application/json"].schema, code).toEqual({ $ref: "#/components/schemas/ErrorBody" });
    }
    expect(deref(doc, publish.responses["429"]).headers["Retry-After"]).toBeDefined();

    // The body: one form per catalog type, `data` typed by the catalog, plus the untyped form.
    const variants = (deref(doc, publish.requestBody.content["application/json"].schema).oneOf as Json[]).map(
      (variant) => deref(doc, variant),
    );
    expect(variants).toHaveLength(catalogTypes.length + 1);
    const byType = new Map(variants.map((variant) => [variant.properties.type.const as string | undefined, variant]));
    expect([...byType.keys()].filter((type) => type !== undefined).sort()).toEqual([...catalogTypes].sort());
    const demo = byType.get("demo.message") as Json;
    expect(demo.required).toEqual(expect.arrayContaining(["type", "data", "to"]));
    expect(demo.properties.data).toMatchObject({
      type: "object",
      required: ["text"],
      properties: { text: { type: "string", minLength: 1, maxLength: 2000 } },
    });
    expect(demo.description).toBe(eventCatalog["demo.message"].description);
    expect(byType.get("todo.changed")?.properties.data.oneOf).toHaveLength(2);
    const untyped = byType.get(undefined) as Json;
    expect(untyped.properties.type.pattern).toBe("^[A-Za-z0-9_.:-]+$");
    expect(untyped.properties.type.not.enum).toEqual([...catalogTypes, ...RESERVED_EVENT_TYPES]);

    const stream = doc.paths["/events/stream"].get;
    expect(Object.keys(stream.responses["200"].content)).toEqual(["text/event-stream"]);
    expect(stream.parameters.map((p: Json) => `${p.in}:${p.name}`)).toEqual([
      "query:token",
      "query:lastEventId",
      "query:types",
      "query:topics",
      "query:presence",
      "header:Last-Event-ID",
    ]);
    expect(Object.keys(doc.paths["/metrics"].get.responses["200"].content)).toEqual(["text/plain"]);
    expect(doc.paths["/events/token"].post.responses["200"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/StreamTokenResult",
    });
  });

  it("with EVENT_CATALOG_STRICT=true documents only the catalog's types", async () => {
    const gw = await gateway({ EVENT_CATALOG_STRICT: "true" });
    const { body: doc } = await document(gw, "/openapi.json");
    expect((await new Validator().validate(doc)).valid).toBe(true);
    const variants = (doc.components.schemas.PublishInput.oneOf as Json[]).map((v) => deref(doc, v));
    expect(variants.map((v) => v.properties.type.const)).toEqual(catalogTypes);
    const { body: asyncDoc } = await document(gw, "/asyncapi.json");
    expect(Object.keys(asyncDoc.components.messages).filter((key) => key.startsWith("Untyped"))).toEqual([]);
  });
});

describe("GET /asyncapi.json", () => {
  it("is an AsyncAPI 3.0 document of the stream and the NATS subjects that parses without errors", async () => {
    const gw = await gateway();
    const { status, type, body: doc } = await document(gw, "/asyncapi.json");
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(doc.asyncapi).toBe("3.0.0");

    const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(doc));
    const errors = diagnostics.filter((d) => d.severity === 0);
    expect(errors, JSON.stringify(errors, null, 2)).toEqual([]);
    expect(parsed).toBeDefined();
    expect(
      parsed
        ?.channels()
        .all()
        .map((c) => c.address())
        .sort(),
    ).toEqual(
      [
        "/events/stream",
        "events.{tenant}.broadcast",
        "events.{tenant}.topic.{topic}",
        "events.{tenant}.user.{user}",
      ].sort(),
    );
    const actions = Object.fromEntries(
      (parsed?.operations().all() ?? []).map((o) => [o.channels().all()[0]?.address(), o.action()]),
    );
    expect(actions).toEqual({
      "/events/stream": "receive",
      "events.{tenant}.user.{user}": "send",
      "events.{tenant}.broadcast": "send",
      "events.{tenant}.topic.{topic}": "send",
    });

    // The stream: one envelope per catalog type, typed; the reserved types; the generic envelope.
    const streamMessages = (Object.values(doc.channels.eventStream.messages) as Json[]).map((ref) => deref(doc, ref));
    const streamNames = streamMessages.map((m) => m.name as string);
    expect(streamNames).toEqual(
      expect.arrayContaining([...catalogTypes, "connected", "reset", "presence.join", "presence.leave", "untyped"]),
    );
    expect(streamNames).not.toContain("ping");
    const demoEnvelope = deref(doc, streamMessages.find((m) => m.name === "demo.message")?.payload);
    expect(demoEnvelope).toMatchObject({
      type: "object",
      required: expect.arrayContaining(["id", "type", "data", "tenantId", "timestamp"]),
      properties: {
        type: { const: "demo.message" },
        data: { properties: { text: { type: "string", minLength: 1, maxLength: 2000 } }, required: ["text"] },
        userId: { type: "string" },
        topic: { type: "string" },
      },
    });
    const reset = deref(doc, streamMessages.find((m) => m.name === "reset")?.payload);
    expect(reset.properties.data.required).toEqual(["reason", "lastEventId"]);
    expect(doc.channels.eventStream.description).toMatch(/: ping <epoch ms>/);

    // NATS: the body {type, data, correlationId?} per catalog type, on every subject.
    const userChannel = doc.channels.userEvents;
    expect(Object.keys(userChannel.parameters).sort()).toEqual(["tenant", "user"]);
    expect(userChannel.parameters.user.description).toMatch(/`_XX`/);
    expect(userChannel.parameters.user.examples).toEqual(["alice_40example_2Ecom"]);
    expect(doc.channels.topicEvents.parameters.topic.examples).toEqual(["order_3A42"]);
    for (const channel of ["userEvents", "tenantBroadcast", "topicEvents"]) {
      const bodies = (Object.values(doc.channels[channel].messages) as Json[]).map((ref) => deref(doc, ref));
      expect(bodies.map((m) => m.name).sort(), channel).toEqual([...catalogTypes, "untyped"].sort());
    }
    const demoBody = deref(
      doc,
      (Object.values(userChannel.messages) as Json[])
        .map((ref) => deref(doc, ref))
        .find((m) => m.name === "demo.message")?.payload,
    );
    expect(Object.keys(demoBody.properties).sort()).toEqual(["correlationId", "data", "type"]);
    expect(demoBody.required).toEqual(["type", "data"]);
    expect(demoBody.properties.data.properties.text).toEqual({ type: "string", minLength: 1, maxLength: 2000 });
  });
});

describe("a team's own catalog", () => {
  it("with recursive and shared schemas, and types whose names collide, still gives valid documents", async () => {
    type Node = { name: string; children: Node[] };
    const node: z.ZodType<Node> = z.object({
      name: z.string(),
      get children() {
        return z.array(node);
      },
    });
    const money = z.object({ amount: z.number(), currency: z.string().length(3) }).meta({ id: "Money" });
    const catalog = defineEvents({
      "tree.changed": { data: z.object({ root: node }) },
      "order.paid": { data: z.object({ total: money, tip: money.optional() }) },
      "order-paid": { data: z.object({ at: z.string() }) },
    });
    const documents = buildApiDocuments(catalog, false);
    const openapi = JSON.parse(documents.openapi) as Json;
    const result = await new Validator().validate(openapi);
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    const schemaNames = Object.keys(openapi.components.schemas);
    expect(schemaNames).toEqual(expect.arrayContaining(["OrderPaidPublishInput", "OrderPaid2PublishInput"]));
    // Every reference points at a schema of the document (none at a `$defs` of nowhere).
    const refs = [...documents.openapi.matchAll(/"\$ref": "([^"]+)"/g)].map((match) => match[1] as string);
    expect(refs.filter((ref) => ref.includes("$defs") || ref.includes("definitions"))).toEqual([]);
    for (const ref of refs) expect(deref(openapi, { $ref: ref }), ref).toBeDefined();

    const { diagnostics } = await new Parser().parse(documents.asyncapi);
    const errors = diagnostics.filter((d) => d.severity === 0);
    expect(errors, JSON.stringify(errors, null, 2)).toEqual([]);
    const asyncapi = JSON.parse(documents.asyncapi) as Json;
    for (const ref of [...documents.asyncapi.matchAll(/"\$ref": "([^"]+)"/g)].map((match) => match[1] as string)) {
      expect(deref(asyncapi, { $ref: ref }), ref).toBeDefined();
    }
  });
});

describe("npm run docs:api", () => {
  it("writes the documents the gateway serves (from the built server)", async () => {
    const gw = await gateway();
    const folder = await mkdtemp(join(tmpdir(), "circl-api-docs-"));
    try {
      const { stdout } = await run(process.execPath, [join(repoRoot, "server/scripts/write-api-docs.mjs"), folder], {
        cwd: repoRoot,
        timeout: 30_000,
        env: { ...process.env, EVENT_CATALOG_STRICT: "false" },
      });
      expect(stdout).toMatch(/openapi\.json/);
      for (const name of ["openapi", "asyncapi"]) {
        const served = await (await fetch(`${gw.url}/${name}.json`)).text();
        // The script uses server/dist: after a change to src/, `npm run build` (npm test does) first.
        expect(await readFile(join(folder, `${name}.json`), "utf8"), `${name} (is server/dist current?)`).toBe(served);
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe("a client generated from /openapi.json", () => {
  const folders: string[] = [];
  afterAll(async () => {
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  });

  it("type-checks, and publishes an event that the user's raw stream receives", { timeout: 60_000 }, async () => {
    const gw = await gateway();
    const folder = await mkdtemp(join(tmpdir(), "circl-openapi-client-"));
    folders.push(folder);
    await run(
      process.execPath,
      [
        fileURLToPath(new URL("helpers/generate-openapi-client.mjs", import.meta.url)),
        `${gw.url}/openapi.json`,
        join(folder, "generated"),
      ],
      { cwd: repoRoot, timeout: 30_000 },
    );
    // What a consumer writes. The `@ts-expect-error` lines fail the check if the generated
    // types are looser than the document (or the catalog's `data` typing got lost).
    await writeFile(
      join(folder, "consumer.ts"),
      `import { client } from "./generated/client.gen";
import { publishEvent } from "./generated/sdk.gen";
import type { DemoMessagePublishInput, PublishInput, PublishResult } from "./generated/types.gen";

type Demo = Extract<PublishInput, { type: "demo.message" }>;
const text: Demo["data"]["text"] = "typed";
// @ts-expect-error text is a string
const notText: Demo["data"]["text"] = 42;
// @ts-expect-error "everyone" is no target
const badTarget: PublishInput = { type: "anything", data: null, to: "everyone" };
void [text, notText, badTarget];

export async function publishDemoMessage(baseUrl: string, token: string, body: DemoMessagePublishInput): Promise<PublishResult> {
  client.setConfig({ baseUrl, auth: () => token });
  const { data, error, response } = await publishEvent({ body });
  if (data === undefined) throw new Error(\`publish failed: \${response.status} \${JSON.stringify(error)}\`);
  return data;
}

export async function publishRefused(baseUrl: string, token: string, body: PublishInput): Promise<{ status: number; message: string }> {
  client.setConfig({ baseUrl, auth: () => token });
  const { error, response } = await publishEvent({ body });
  return { status: response.status, message: error === undefined ? "" : error.message };
}
`,
    );
    await writeFile(
      join(folder, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "ES2022",
          module: "ESNext",
          moduleResolution: "Bundler",
          lib: ["ES2022", "DOM", "DOM.Iterable"],
          types: [],
          skipLibCheck: false,
        },
        include: ["**/*.ts"],
      }),
    );
    const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
    const checked = await run(process.execPath, [tsc, "-p", folder], { cwd: folder, timeout: 30_000 }).then(
      () => "",
      (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ""}${error.stderr ?? ""}` || "tsc failed",
    );
    expect(checked).toBe("");

    const consumer = (await import(pathToFileURL(join(folder, "consumer.ts")).href)) as {
      publishDemoMessage: (url: string, token: string, body: unknown) => Promise<{ status: string; id?: string }>;
      publishRefused: (url: string, token: string, body: unknown) => Promise<{ status: number; message: string }>;
    };
    const token = await gw.token({ sub: "client-user", tenantId: "t1" });
    const stream = await openStream(gw, token);
    expect(stream.status).toBe(200);
    await stream.waitForEvent("connected");

    const result = await consumer.publishDemoMessage(gw.url, token, {
      type: "demo.message",
      data: { text: "hello from a generated client" },
      to: "me",
      correlationId: "gen-1",
    });
    expect(result).toMatchObject({ status: "published", id: expect.any(String) });
    await stream.waitForEvent("demo.message");
    const [envelope] = stream.envelopes<Json>();
    expect(envelope).toMatchObject({
      id: result.id,
      type: "demo.message",
      data: { text: "hello from a generated client" },
      tenantId: "t1",
      userId: "client-user",
      correlationId: "gen-1",
    });
    // The catalog's schema is enforced on that door too, and the error reaches the client typed.
    expect(
      await consumer.publishRefused(gw.url, token, { type: "demo.message", data: { text: "" }, to: "me" }),
    ).toEqual({ status: 400, message: expect.stringMatching(/^data\.text: /) });
  });
});
