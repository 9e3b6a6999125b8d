import { decodeSubjectToken, encodeSubjectToken } from "./subject-encoding.js";

/**
 * What a stream listens to: a personal key (`user` set), a tenant broadcast key (neither), or a
 * topic key (`topic` set). Never both `user` and `topic`.
 */
export type StreamKey = { readonly tenant: string; readonly user?: string; readonly topic?: string };

export const SUBJECT_ROOT = "events";

export function personalSubject(tenant: string, user: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.user.${encodeSubjectToken(user)}`;
}

export function broadcastSubject(tenant: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.broadcast`;
}

/** `events.<tenant>.topic.<topic>`: a topic's events (the topic encoded like an id, so `.` stays inside one token). */
export function topicSubject(tenant: string, topic: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.topic.${encodeSubjectToken(topic)}`;
}

/** `events.<tenant>.>`: everything of one tenant. */
export function tenantWildcardSubject(tenant: string): string {
  return `${SUBJECT_ROOT}.${encodeSubjectToken(tenant)}.>`;
}

export function subjectForKey(key: StreamKey): string {
  if (key.topic !== undefined) return topicSubject(key.tenant, key.topic);
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
  if (parts.length === 4 && parts[3] !== undefined) {
    const id = decodeSubjectToken(parts[3]);
    if (id === undefined) return undefined;
    if (parts[2] === "user") return { tenant, user: id };
    if (parts[2] === "topic") return TOPIC.test(id) ? { tenant, topic: id } : undefined;
  }
  return undefined;
}

const TOPIC = /^[A-Za-z0-9_.:-]{1,128}$/;
