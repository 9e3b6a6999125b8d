import type { FastifyServerOptions } from "fastify";
import type { DestinationStream } from "pino";

const SECRET_QUERY_PARAMS = /([?&](?:token|connectionParams|access_token)=)[^&#]*/gi;

/** Replaces the values of query parameters that can carry credentials. */
function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, "$1[redacted]");
}

type RequestLike = { method: string; url: string; ip?: string; id?: string };

/** pino options: request ids, and no credential ever in a log line. */
export function loggerOptions(level: string, stream?: DestinationStream): FastifyServerOptions["logger"] {
  return {
    level,
    ...(stream === undefined ? {} : { stream }),
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        "req.headers['last-event-id']",
        "res.headers['set-cookie']",
        "headers.authorization",
        "headers.cookie",
        "token",
      ],
      censor: "[redacted]",
    },
    serializers: {
      req(req: RequestLike) {
        return { method: req.method, url: redactUrl(req.url), remoteAddress: req.ip };
      },
    },
  };
}
