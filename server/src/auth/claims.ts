import { idSchema } from "@circl-bff/shared";
import type { JWTPayload } from "jose";
import { AuthError } from "./auth-error.js";

/**
 * Reads a claim by dotted path (`app_metadata.tenant_id`). The nested claim wins over a
 * top-level key that happens to contain the dots, which some identity providers let users set.
 */
export function readClaim(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) {
      return Object.hasOwn(payload, path) ? payload[path] : undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export function requireId(value: unknown, claim: string): string {
  const candidate = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  const parsed = idSchema.safeParse(candidate);
  if (!parsed.success) throw new AuthError(`claim_${claim === "sub" ? "sub" : "tenant"}`);
  return parsed.data;
}

export function readRoles(payload: JWTPayload, path: string): string[] {
  const value = readClaim(payload, path);
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AuthError("claim_roles");
  return value.filter((role): role is string => typeof role === "string" && role.length <= 256).slice(0, 100);
}

const TOPIC_PATTERN = /^[A-Za-z0-9_.:*-]{1,128}$/;

/**
 * Topic grant patterns (`order:*`, `doc.7`, `*`). Entries that are not patterns are ignored:
 * an identity provider's stray value grants nothing, and never fails the whole token.
 */
export function readTopicPatterns(payload: JWTPayload, path: string): string[] {
  const value = readClaim(payload, path);
  if (!Array.isArray(value)) return [];
  return value
    .filter((pattern): pattern is string => typeof pattern === "string" && TOPIC_PATTERN.test(pattern))
    .slice(0, 256);
}
