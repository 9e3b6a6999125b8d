import { type StreamKey, SUBJECT_ROOT, subjectForKey } from "@circl-bff/shared";
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamInfo,
} from "@nats-io/jetstream";

export type StreamSettings = {
  name: string;
  /** Retention by age, in milliseconds. */
  maxAgeMs: number;
  /** Size cap in bytes; the oldest events go first (`discard: old`). */
  maxBytes: number;
  /** Replicas when the gateway creates the stream (an existing stream keeps its own). */
  replicas?: number;
};

/** All gateway subjects: `events.>`. */
export const STREAM_SUBJECT = `${SUBJECT_ROOT}.>`;
/**
 * Where the stream re-publishes every stored message on core NATS (its RePublish), under the
 * stream's name so deployments sharing a cluster stay apart: `events.<rest>` is re-sent as
 * `circl-bff.live.<stream>.<rest>`, with the headers `Nats-Sequence`, `Nats-Subject` and the
 * subject's previous sequence `Nats-Last-Sequence`. Instances subscribe there per stream key.
 */
export function liveSubjectPrefix(streamName: string): string {
  return `circl-bff.live.${streamName}`;
}

/** The core subject on which `key`'s events are re-published live. */
export function liveSubjectFor(streamName: string, key: StreamKey): string {
  return `${liveSubjectPrefix(streamName)}${subjectForKey(key).slice(SUBJECT_ROOT.length)}`;
}

/** De-duplication window for `Nats-Msg-Id`; the contract promises 2 minutes. */
export const DUPLICATE_WINDOW_MS = 120_000;

const NANOS_PER_MS = 1_000_000;

export class StreamConfigError extends Error {
  override readonly name = "StreamConfigError";
}

/**
 * Creates the stream when it is missing, or checks that the existing one can serve the
 * gateway. A stream the gateway cannot use is a startup error, never silently changed: an
 * operator may have set it up that way on purpose.
 */
export async function ensureStream(jsm: JetStreamManager, settings: StreamSettings): Promise<StreamInfo> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(settings.name);
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
    return jsm.streams.add({
      name: settings.name,
      subjects: [STREAM_SUBJECT],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      duplicate_window: DUPLICATE_WINDOW_MS * NANOS_PER_MS,
      max_age: settings.maxAgeMs * NANOS_PER_MS,
      max_bytes: settings.maxBytes,
      num_replicas: settings.replicas ?? 1,
      republish: { src: STREAM_SUBJECT, dest: `${liveSubjectPrefix(settings.name)}.>` },
    });
  }
  const problems = incompatibilities(info, settings);
  if (problems.length > 0) {
    throw new StreamConfigError(
      `JetStream stream ${settings.name} exists but cannot be used by the gateway: ${problems.join("; ")}. ` +
        "Fix or delete the stream (or set NATS_STREAM to another name).",
    );
  }
  return info;
}

function incompatibilities(info: StreamInfo, settings: StreamSettings): string[] {
  const c = info.config;
  const problems: string[] = [];
  const subjects = c.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== STREAM_SUBJECT) {
    problems.push(`subjects are ${JSON.stringify(subjects)}, expected ["${STREAM_SUBJECT}"]`);
  }
  if (c.storage !== StorageType.File) problems.push(`storage is ${c.storage}, expected file`);
  if (c.retention !== RetentionPolicy.Limits) problems.push(`retention is ${c.retention}, expected limits`);
  if ((c.duplicate_window ?? 0) < DUPLICATE_WINDOW_MS * NANOS_PER_MS) {
    problems.push(`duplicate_window is ${(c.duplicate_window ?? 0) / NANOS_PER_MS} ms, at least 120000 expected`);
  }
  if (c.max_age !== settings.maxAgeMs * NANOS_PER_MS) {
    problems.push(`max_age is ${c.max_age / NANOS_PER_MS} ms, NATS_STREAM_MAX_AGE says ${settings.maxAgeMs} ms`);
  }
  const republishTo = `${liveSubjectPrefix(settings.name)}.>`;
  const republish = c.republish;
  if (republish?.src !== STREAM_SUBJECT || republish.dest !== republishTo || republish.headers_only === true) {
    problems.push(
      `it does not re-publish ${STREAM_SUBJECT} to ${republishTo} (live delivery subscribes there per stream key). ` +
        `nats-server 2.9 cannot add RePublish to an existing stream: delete it and let the gateway create it ` +
        `(\`nats stream rm ${settings.name}\`; its stored events go with it), or on nats-server 2.10+ run ` +
        `\`nats stream edit ${settings.name} --republish-source '${STREAM_SUBJECT}' --republish-destination '${republishTo}'\``,
    );
  }
  if (c.max_bytes !== settings.maxBytes) {
    problems.push(`max_bytes is ${c.max_bytes}, NATS_STREAM_MAX_BYTES says ${settings.maxBytes}`);
  }
  return problems;
}

export function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError
    ? error.code === 10059
    : error instanceof Error && error.message === "stream not found";
}

/**
 * The epoch of a stream: its creation time (nanoseconds, base 36). A stream deleted and
 * created again under the same name gets another epoch, so ids of the old one are answered
 * with `reset` instead of being read against different events.
 */
export function streamEpoch(info: StreamInfo): string {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(info.created);
  if (match === null) throw new Error(`unexpected stream creation time ${info.created}`);
  const seconds = BigInt(Date.parse(`${match[1]}Z`) / 1000);
  const nanos = BigInt((match[2] ?? "").padEnd(9, "0"));
  return (seconds * 1_000_000_000n + nanos).toString(36);
}
