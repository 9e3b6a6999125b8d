import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance, onRequestHookHandler } from "fastify";
import helmet, { type HelmetOptions } from "helmet";

/** The demo page and its assets: the CSP the page satisfies (no inline script or style), and helmet's other defaults. */
const DOCUMENT_HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      connectSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      frameAncestors: ["'none'"],
      formAction: ["'self'"],
    },
  },
};

/**
 * Everything else (JSON, the SSE stream, the proxied `/api/*`): the headers that protect a
 * response that is not a page, as the OWASP REST Security Cheat Sheet lists them and public APIs
 * send them: nothing may load or frame it if it is ever rendered (`default-src 'none'`), no MIME
 * sniffing, HTTPS only, not embeddable by other sites' pages. The other helmet defaults
 * (referrer and opener policies, origin-agent clustering, the legacy IE and Flash switches) govern
 * documents; on an API response they are bytes to write for every call.
 */
const API_HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: "deny" },
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/** Runs helmet's middleware once against a recorder and returns the headers it sets. */
function helmetHeaders(options: Readonly<HelmetOptions>): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let ran = false;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {
    ran = true;
  });
  if (!ran) throw new Error("helmet did not finish synchronously");
  return headers;
}

/** Adds `headers` to every reply of a scope or route, before anything can answer. */
function headersHook(headers: Record<string, string>): onRequestHookHandler {
  return (_request, reply, done) => {
    reply.headers(headers);
    done();
  };
}

/**
 * Security headers from helmet on every response, the SSE stream included (the raw route copies
 * the reply's headers): the API set, which pages replace with `documentSecurityHeaders`. Our
 * configuration is static, so helmet runs once at start-up: @fastify/helmet builds helmet's
 * middleware again on every request, 5 % of the proxy's CPU.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook("onRequest", headersHook(helmetHeaders(API_HELMET_OPTIONS)));
}

/** A route-level `onRequest` hook for pages and their assets: the document set over the API set. */
export const documentSecurityHeaders: onRequestHookHandler = headersHook(helmetHeaders(DOCUMENT_HELMET_OPTIONS));
