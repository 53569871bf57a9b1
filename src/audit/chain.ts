/**
 * The audit hash chain. Each record carries the hash of the record before it, so editing,
 * deleting or reordering a line breaks every hash after it:
 *
 *   hash = sha256hex(prevHash + canonicalJSON(record without `hash`))
 *
 * `prevHash` is part of the hashed content. The first record of a file has `prevHash` =
 * `GENESIS_HASH` (64 zeros); a writer that reopens an existing file continues from the `hash` of
 * its last complete line. Canonical JSON is RFC 8785 (JCS) for the values a record holds: object
 * keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string serialization,
 * so any JCS implementation can recompute a hash. The chain protects the parsed content, not the
 * bytes: an escape written differently (`\u00e9` for `é`) decodes to the same record.
 *
 * A chain cannot show that lines were cut from the end of a file; anchor the last hash elsewhere
 * (`verifyAuditFile` returns it) when that matters.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** `prevHash` of the first record in a file. */
export const GENESIS_HASH = '0'.repeat(64);

const HASH = /^[0-9a-f]{64}$/;

/** Strings JSON.stringify would escape; all others are quoted as they are (the common case). */
// Control characters in this regex are intended: these are the characters JSON escapes.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const quotedKeys = new Map<string, string>();

function quote(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
}

/** Record keys repeat on every line: quote each once. */
function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = quote(key);
    if (quotedKeys.size < 1024) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/**
 * Values shared by many records (the `caller` of one cached token, record.ts), deeply frozen
 * when registered: their canonical JSON is computed once (`null` until then).
 */
const sharedJson = new WeakMap<object, string | null>();

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const member of Object.values(value)) deepFreeze(member);
  Object.freeze(value);
}

/**
 * Deep-freezes `value` (plain JSON data) and has the chain serialize it once, however many
 * records hold it. Returns `value`.
 */
export function shareInRecords<T extends object>(value: T): T {
  deepFreeze(value);
  sharedJson.set(value, null);
  return value;
}

function skipped(member: unknown): boolean {
  return member === undefined || typeof member === 'function' || typeof member === 'symbol';
}

/**
 * RFC 8785 canonical JSON; members JSON.stringify leaves out (`undefined`, functions) are left
 * out. `omitKey` leaves one top-level member out (the record's own `hash`) without a copy.
 * This runs once per audit record, so it avoids a JSON.stringify call per string and key.
 */
export function canonicalJSON(value: unknown, omitKey?: string): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return 'null';
  }
  if (value === null) return 'null';
  if (omitKey === undefined) {
    const memo = sharedJson.get(value);
    if (typeof memo === 'string') return memo;
    if (memo === null) {
      const json = canonicalJSONOf(value, undefined);
      sharedJson.set(value, json);
      return json;
    }
  }
  return canonicalJSONOf(value, omitKey);
}

function canonicalJSONOf(value: object, omitKey: string | undefined): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += (i > 0 ? ',' : '') + (skipped(item) ? 'null' : canonicalJSON(item));
    }
    return out + ']';
  }
  const withToJson = value as { toJSON?: () => unknown };
  if (typeof withToJson.toJSON === 'function') return canonicalJSON(withToJson.toJSON(), omitKey);
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = object[key];
    if (key === omitKey || skipped(member)) continue;
    out += (first ? '' : ',') + quoteKey(key) + ':' + canonicalJSON(member);
    first = false;
  }
  return out + '}';
}

/** The hash of `record` (its own `hash` member ignored) chained onto `prevHash`. */
export function computeRecordHash(prevHash: string, record: object): string {
  const content = canonicalJSON(record, 'hash');
  return createHash('sha256')
    .update(prevHash + content)
    .digest('hex');
}

/** A copy of `record` with `prevHash` and `hash` set: the next link after `prevHash`. */
export function chainRecord<T extends object>(record: T, prevHash: string): T & ChainFields {
  const linked = { ...record, prevHash, hash: undefined as unknown as string };
  linked.hash = computeRecordHash(prevHash, linked);
  return linked;
}

export interface ChainFields {
  readonly prevHash: string;
  readonly hash: string;
}

/** True when `value` is a lowercase sha256 hex digest. */
export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH.test(value);
}

export interface FileTail {
  /** The `hash` of the last complete line, when it has one. */
  readonly lastHash: string | undefined;
  /** False when the file is not empty and does not end with `\n` (a torn write). */
  readonly endsWithNewline: boolean;
}

const TAIL_CHUNK = 64 * 1024;
/** A last line longer than this is not one of ours; the chain then starts again at genesis. */
const TAIL_MAX = 4 * 1024 * 1024;

/**
 * Reads backwards from the end of an open file to its last complete line. A torn final line
 * (no `\n`, e.g. after a crash) is skipped: new records chain onto the last complete one.
 */
export async function readFileTail(handle: FileHandle, size: number): Promise<FileTail> {
  if (size === 0) return { lastHash: undefined, endsWithNewline: true };
  let tail = Buffer.alloc(0);
  let pos = size;
  while (pos > 0 && tail.length < TAIL_MAX) {
    const length = Math.min(TAIL_CHUNK, pos);
    pos -= length;
    const chunk = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(chunk, 0, length, pos);
    tail = Buffer.concat([chunk.subarray(0, bytesRead), tail]);
    const lastNewline = tail.lastIndexOf(0x0a);
    if (lastNewline === -1) continue;
    const previous = lastNewline === 0 ? -1 : tail.lastIndexOf(0x0a, lastNewline - 1);
    if (previous === -1 && pos > 0) continue;
    const endsWithNewline = tail[tail.length - 1] === 0x0a;
    return { lastHash: hashOfLine(tail.subarray(previous + 1, lastNewline)), endsWithNewline };
  }
  return { lastHash: undefined, endsWithNewline: tail[tail.length - 1] === 0x0a };
}

function hashOfLine(line: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(line.toString('utf8'));
    const hash = (parsed as { hash?: unknown } | null)?.hash;
    return isHash(hash) ? hash : undefined;
  } catch {
    return undefined;
  }
}
