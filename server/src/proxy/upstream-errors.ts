/** Why an upstream call failed, as the client may learn it: never a hostname, address or stack. */
type UpstreamFailure = "timeout" | "unreachable";

const TIMEOUT_CODES = new Set([
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "ETIMEDOUT",
  "FST_REPLY_FROM_TIMEOUT",
  "FST_REPLY_FROM_GATEWAY_TIMEOUT",
]);

/** Classifies an undici (or reply-from wrapped) error; anything not a timeout is "unreachable". */
export function classifyUpstreamError(error: unknown): UpstreamFailure {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && TIMEOUT_CODES.has(code)) return "timeout";
    current = (current as { cause?: unknown }).cause;
  }
  return "unreachable";
}

export const FAILURE_STATUS: Record<UpstreamFailure, 502 | 504> = { timeout: 504, unreachable: 502 };
export const FAILURE_MESSAGE: Record<UpstreamFailure, string> = {
  timeout: "the upstream service did not answer in time",
  unreachable: "the upstream service is unreachable",
};
