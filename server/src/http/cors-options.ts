import type { FastifyCorsOptions } from "@fastify/cors";

/**
 * CORS for every route, streams included (docs/protocol.md): the listed origins with
 * credentials; any other origin gets no `Access-Control-Allow-Origin` at all.
 */
export function corsOptions(origins: string[]): FastifyCorsOptions {
  return {
    origin: origins,
    credentials: true,
    methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    allowedHeaders: [
      "authorization",
      "content-type",
      "last-event-id",
      "x-request-id",
      "idempotency-key",
      "trpc-accept",
      "traceparent",
      "tracestate",
    ],
    // A string, not an array: @fastify/cors joins an array again on every request.
    exposedHeaders: "x-request-id, retry-after, etag, location, idempotent-replayed, www-authenticate",
    maxAge: 600,
  };
}
