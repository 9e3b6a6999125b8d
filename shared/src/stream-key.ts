import { decodeSubjectToken, encodeSubjectToken } from "./subject-encoding.js";

/** A personal key (`user` set) or a tenant broadcast key. */
export type StreamKey = { readonly tenant: string; readonly user?: string };

export const SUBJECT_ROOT = "events";

export function personalSubject(tenant: string, user: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.user.${encodeSubjectToken(user)}`;
}

export function broadcastSubject(tenant: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.broadcast`;
}

/** `events.<tenant>.>`: everything of one tenant. */
export function tenantWildcardSubject(tenant: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.>`;
}

export function subjectForKey(key: StreamKey): string {
  return key.user === undefined ? broadcastSubject(key.tenant) : personalSubject(key.tenant, key.user);
}

/** A canonical string for maps: equal keys give equal strings, different keys different ones. */
export function keyId(key: StreamKey): string {
  return subjectForKey(key);
}

/** Parses a subject back into its key; `undefined` for anything that is not one of ours. */
export function keyFromSubject(subject: string): StreamKey | undefined {
  const parts = subject.split(".");
  if (parts[0] !== SUBJECT_ROOT || parts[1] === undefined) return undefined;
  const tenant = decodeSubjectToken(parts[1]);
  if (tenant === undefined) return undefined;
  if (parts.length === 3 && parts[2] === "broadcast") return { tenant };
  if (parts.length === 4 && parts[2] === "user" && parts[3] !== undefined) {
    const user = decodeSubjectToken(parts[3]);
    return user === undefined ? undefined : { tenant, user };
  }
  return undefined;
}
