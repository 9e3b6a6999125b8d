/**
 * Injective mapping from arbitrary user/tenant ids to NATS subject tokens.
 *
 * `[A-Za-z0-9-]` pass through unchanged (UUIDs and most ids stay readable); every other UTF-8
 * byte, `_` included, becomes `_XX` (upper-case hex). Because `_` only ever starts an escape,
 * decoding is unambiguous, so two different ids can never share a subject token, and no id can
 * put `.`, `*`, `>` or whitespace into a subject.
 */
const PLAIN = /^[A-Za-z0-9-]$/;
const TOKEN = /^(?:[A-Za-z0-9-]|_[0-9A-F]{2})+$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const MAX_ID_LENGTH = 256;

/** Matches a UTF-16 surrogate that is not part of a pair (not encodable as UTF-8). */
export const LONE_SURROGATE = /\p{Cs}/u;

export function encodeSubjectToken(id: string): string {
  if (id.length === 0) throw new RangeError("an id must not be empty");
  // A lone surrogate would be encoded as U+FFFD and collide with other ids.
  if (LONE_SURROGATE.test(id)) throw new RangeError("an id must be well-formed Unicode");
  let out = "";
  for (const char of id) {
    if (PLAIN.test(char)) {
      out += char;
      continue;
    }
    for (const byte of encoder.encode(char)) {
      out += `_${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/** Inverse of {@link encodeSubjectToken}; `undefined` when the token is not a valid encoding. */
export function decodeSubjectToken(token: string): string | undefined {
  if (!TOKEN.test(token)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const ch = token[i] as string;
    if (ch === "_") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(ch.charCodeAt(0));
    }
  }
  try {
    const id = decoder.decode(new Uint8Array(bytes));
    // Reject non-canonical encodings (an escaped plain character) so decode∘encode is identity.
    return encodeSubjectToken(id) === token ? id : undefined;
  } catch {
    return undefined;
  }
}
