/**
 * The audit hash chain. Each record carries the hash of the record before it, so editing,
 * deleting or reordering a line breaks every hash after it:
 *
 *   hash = sha256hex(prevHash + canonicalJson(record without `hash`))   (canonical-json.ts)
 *
 * `prevHash` is part of the hashed content. The audit log writes each record as exactly the
 * canonical JSON it hashed, with `hash` appended as the last member (`chainLine`): one
 * serialization per record, and a line whose members are in canonical order rather than
 * DESIGN.md's. A verifier parses the line, so lines written in any member order (earlier files)
 * verify the same way. The first record of a file has `prevHash` =
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
import { canonicalJson } from '../canonical-json.ts';
import { escapeRawBreakers } from './sanitize.ts';

/** `prevHash` of the first record in a file. */
export const GENESIS_HASH = '0'.repeat(64);

const HASH = /^[0-9a-f]{64}$/;

/** The hash of `record` (its own `hash` member ignored) chained onto `prevHash`. */
export function computeRecordHash(prevHash: string, record: object): string {
  const content = canonicalJson(record, 'hash');
  return createHash('sha256')
    .update(prevHash + content)
    .digest('hex');
}

/**
 * The line (without `\n`) that links `record` onto `prevHash`, and its hash: the canonical JSON
 * that is hashed is the line written, `hash` appended. Characters some line readers break on are
 * escaped afterwards (`escapeRawBreakers`): the line parses to the same record, so to the same
 * hash. Parsed, it is `chainRecord(record, prevHash)`.
 */
export function chainLine(record: object, prevHash: string): { readonly line: string; readonly hash: string } {
  const content = canonicalJson({ ...record, prevHash }, 'hash');
  const hash = createHash('sha256')
    .update(prevHash + content)
    .digest('hex');
  return { line: escapeRawBreakers(`${content.slice(0, -1)},"hash":"${hash}"}`), hash };
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
