import http from "node:http";
import type { AddressInfo } from "node:net";
import { DuplicateTitleError, FullError, TodoStore } from "./todo-store.js";

/**
 * A small real upstream API for the demo page, `npm start` in development and the tests: a
 * tenant-scoped todo list that trusts the gateway's `x-tenant-id` / `x-user-id` (as a real
 * backend behind the gateway would), plus `/whoami` and `/echo` that show what the gateway sent.
 */
export type DemoUpstream = { url: URL; server: http.Server; close: () => Promise<void> };

const MAX_BODY_BYTES = 64 * 1024;
const TODO_PATH = /^\/todos\/([^/]+)$/;

type Json = Record<string, unknown> | unknown[];

function send(res: http.ServerResponse, status: number, body?: Json): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BODY_BYTES) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (error) {
        reject(error);
      }
    });
    req.on("error", reject);
  });
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}

function validTitle(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" && value.length <= 200 ? value.trim() : undefined;
}

async function handle(store: TodoStore, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://demo.invalid");
  const tenantId = header(req, "x-tenant-id");
  const userId = header(req, "x-user-id");
  if (tenantId === undefined || userId === undefined) {
    return send(res, 401, { message: "x-tenant-id and x-user-id are required (call through the gateway)" });
  }

  if (url.pathname === "/whoami" && req.method === "GET") {
    return send(res, 200, {
      tenantId,
      userId,
      requestId: header(req, "x-request-id") ?? "",
      traceparent: header(req, "traceparent") ?? "",
    });
  }
  if (url.pathname === "/echo") {
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readJson(req).catch(() => null);
    return send(res, 200, { method: req.method, path: url.pathname, query: url.search, headers: req.headers, body });
  }
  if (url.pathname === "/todos") {
    if (req.method === "GET") {
      const done = url.searchParams.get("done");
      return send(res, 200, { items: store.list(tenantId, done === null ? undefined : done === "true") });
    }
    if (req.method === "POST") {
      const body = (await readJson(req).catch(() => undefined)) as { title?: unknown } | undefined;
      const title = validTitle(body?.title);
      if (title === undefined) return send(res, 400, { message: "title must be a non-empty string" });
      try {
        return send(res, 201, store.create(tenantId, userId, title) as unknown as Json);
      } catch (error) {
        if (error instanceof DuplicateTitleError) return send(res, 409, { message: `a todo titled '${title}' exists` });
        if (error instanceof FullError) return send(res, 507, { message: "the demo store is full" });
        throw error;
      }
    }
    return send(res, 405, { message: "method not allowed" });
  }
  const match = TODO_PATH.exec(url.pathname);
  if (match !== null) {
    const id = decodeURIComponent(match[1] as string);
    if (req.method === "GET") {
      const todo = store.get(tenantId, id);
      return todo === undefined ? send(res, 404, { message: "no such todo" }) : send(res, 200, todo as unknown as Json);
    }
    if (req.method === "PATCH") {
      const body = (await readJson(req).catch(() => undefined)) as { title?: unknown; done?: unknown } | undefined;
      const patch: { title?: string; done?: boolean } = {};
      if (body?.title !== undefined) {
        const title = validTitle(body.title);
        if (title === undefined) return send(res, 400, { message: "title must be a non-empty string" });
        patch.title = title;
      }
      if (body?.done !== undefined) {
        if (typeof body.done !== "boolean") return send(res, 400, { message: "done must be a boolean" });
        patch.done = body.done;
      }
      try {
        const todo = store.update(tenantId, id, patch);
        return todo === undefined
          ? send(res, 404, { message: "no such todo" })
          : send(res, 200, todo as unknown as Json);
      } catch (error) {
        if (error instanceof DuplicateTitleError) return send(res, 409, { message: "a todo with that title exists" });
        throw error;
      }
    }
    if (req.method === "DELETE") {
      return store.delete(tenantId, id) ? send(res, 204) : send(res, 404, { message: "no such todo" });
    }
    return send(res, 405, { message: "method not allowed" });
  }
  return send(res, 404, { message: "not found" });
}

/** Starts the demo upstream on `host:port` (port 0: a free one). */
export async function startDemoUpstream(options: { host?: string; port?: number } = {}): Promise<DemoUpstream> {
  const store = new TodoStore();
  const server = http.createServer((req, res) => {
    handle(store, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { message: "demo upstream failed" });
      else res.destroy();
    });
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://${host}:${port}`),
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
