import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AuthError } from "../auth/auth-error.js";
import type { Metrics } from "../metrics.js";

export type ErrorBody = { statusCode: number; error: string; message: string; requestId: string };

export function errorBody(statusCode: number, message: string, requestId: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? "Error", message, requestId };
}

export function sendError(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply
    .code(statusCode)
    .type("application/json")
    .send(errorBody(statusCode, message, reply.request.id));
}

/**
 * One error shape for the whole app. Client errors keep their message; a 5xx says only
 * "Internal Server Error" (the full error is logged with the request id).
 */
export function registerErrorHandling(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AuthError) {
      metrics.authFailures.labels(error.reason).inc();
      request.log.info({ reason: error.reason, ip: request.ip }, "authentication failed");
      return sendError(reply, 401, error.message);
    }
    const statusCode =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (statusCode >= 500) {
      request.log.error({ err: error }, "request failed");
      return sendError(reply, statusCode, "Internal Server Error");
    }
    return sendError(reply, statusCode, error.message);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, `Route ${request.method} ${request.url.split("?")[0]} not found`),
  );
}
