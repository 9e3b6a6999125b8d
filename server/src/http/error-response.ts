import { STATUS_CODES } from "node:http";
import type { FastifyReply } from "fastify";

/** The one error shape of every HTTP answer (docs/protocol.md, "Errors"). */
export type ErrorBody = {
  statusCode: number;
  error: string;
  message: string;
  requestId: string;
  /** The zod issues of a refused body (`400`). */
  issues?: unknown[];
};

export function errorBody(statusCode: number, message: string, requestId: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? "Error", message, requestId };
}

export function sendError(
  reply: FastifyReply,
  statusCode: number,
  message: string,
  extra?: Pick<ErrorBody, "issues">,
): FastifyReply {
  return reply
    .code(statusCode)
    .type("application/json")
    .send(
      extra === undefined
        ? errorBody(statusCode, message, reply.request.id)
        : { ...errorBody(statusCode, message, reply.request.id), ...extra },
    );
}
