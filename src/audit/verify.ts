/**
 * `stepgate audit verify FILE [--key PUBLIC_KEY_FILE]`: walks an audit file line by line (files
 * can be large, so it streams) and checks the hash chain described in chain.ts and the signed
 * checkpoints of checkpoint.ts. Reports the first broken line:
 *
 * - an edited, removed or reordered line breaks the chain;
 * - a line rewritten with every later hash recomputed breaks the next checkpoint's signature
 *   (with `--key`);
 * - lines cut from the end leave lines no checkpoint covers, or a last checkpoint that is not
 *   final. A writer that died without closing leaves the same: only the last `everyRecords`
 *   records or `everySeconds` seconds can be lost unnoticed that way, and an anchor kept
 *   elsewhere (the README) tells the two apart.
 */
import type { KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { computeRecordHash, GENESIS_HASH, isHash } from './chain.ts';
import { checkpointSignatureHolds, isCheckpoint, keyIdOf } from './checkpoint.ts';

export interface CheckpointSeen {
  readonly line: number;
  readonly hash: string;
  readonly time: string;
  readonly final: boolean;
}

export interface VerifyResult {
  /** True when every line links onto the one before it, starting from the genesis hash. */
  readonly ok: boolean;
  /** Lines read: all of them when ok, up to and including the broken one otherwise. */
  readonly lines: number;
  /** 1-based number of the first line that does not verify. */
  readonly brokenLine?: number;
  /** Why that line does not verify. */
  readonly message?: string;
  /** The hash of the last verified line: anchor it elsewhere to detect a cut-off tail. */
  readonly lastHash?: string;
  /** Checkpoint lines read. */
  readonly checkpoints: number;
  readonly lastCheckpoint?: CheckpointSeen;
  /** The key whose signatures were checked (its RFC 7638 thumbprint); none without `--key`. */
  readonly keyId?: string;
}

export interface VerifyOptions {
  /** Checks every checkpoint's signature with this Ed25519 public key. */
  readonly publicKey?: KeyObject;
}

/** Lines longer than this are refused rather than buffered: records are a few KB at most. */
const MAX_LINE_BYTES = 1024 * 1024;

/** Verifies the audit file at `path`; rejects only when it cannot be read. */
export async function verifyAuditFile(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { publicKey } = options;
  const keyId = publicKey && keyIdOf(publicKey);
  let expected = GENESIS_HASH;
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let checkpoints = 0;
  let lastCheckpoint: CheckpointSeen | undefined;

  const checkCheckpoint = (record: Record<string, unknown>, hash: string): string | undefined => {
    if (publicKey) {
      if (record['keyId'] !== keyId) {
        return `checkpoint signed by another key (keyId ${JSON.stringify(record['keyId'])}, --key is ${keyId})`;
      }
      if (!checkpointSignatureHolds(record, publicKey)) {
        const since = lastCheckpoint ? `line ${lastCheckpoint.line}` : 'the start of the file';
        return `the checkpoint's signature does not cover the chain before it: a line between ${since} and this one was rewritten and the hashes after it recomputed`;
      }
    }
    checkpoints += 1;
    lastCheckpoint = { line: lineNo, hash, time: String(record['time']), final: record['final'] === true };
    return undefined;
  };

  const check = (line: Buffer): string | undefined => {
    lineNo += 1;
    const linked = checkLine(line, expected);
    if (typeof linked === 'string') return linked;
    expected = linked.hash;
    return isCheckpoint(linked.record) ? checkCheckpoint(linked.record, linked.hash) : undefined;
  };

  const tally = () => ({
    checkpoints,
    ...(keyId ? { keyId } : {}),
    ...(lastCheckpoint ? { lastCheckpoint } : {}),
  });
  const broken = (message: string, at = lineNo): VerifyResult => ({
    ok: false,
    lines: lineNo,
    brokenLine: at,
    message: `line ${at}: ${message}`,
    ...(lineNo > 1 ? { lastHash: expected } : {}),
    ...tally(),
  });

  const stream = createReadStream(path);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, nl);
        start = nl + 1;
        const line = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
        pending = [];
        pendingBytes = 0;
        const problem = check(line);
        if (problem) return broken(problem);
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > MAX_LINE_BYTES) {
          lineNo += 1;
          return broken(`longer than ${MAX_LINE_BYTES} bytes`);
        }
      }
    }
  } finally {
    stream.destroy();
  }
  if (pendingBytes > 0) {
    // A last line without `\n`: a torn write fails to parse; a whole record only lacking its
    // newline still verifies (the writer adds the newline before appending).
    const problem = check(Buffer.concat(pending));
    if (problem) return broken(problem);
  }
  if (lineNo === 0) return { ok: true, lines: 0, ...tally() };
  const truncation = truncationProblem(lineNo, lastCheckpoint, publicKey !== undefined);
  if (truncation) return broken(truncation.message, truncation.line);
  return { ok: true, lines: lineNo, lastHash: expected, ...tally() };
}

/**
 * What the end of a file says about a cut. A file with checkpoints must end with a final one; a
 * file without any passes only when no key was given (it was written without checkpoints).
 */
function truncationProblem(
  lines: number,
  last: CheckpointSeen | undefined,
  keyGiven: boolean,
): { line: number; message: string } | undefined {
  const why = 'lines were cut from the end of the file, or the gateway did not stop cleanly';
  if (!last) {
    if (!keyGiven) return undefined;
    return { line: lines, message: 'no checkpoint in the file, so nothing is signed' };
  }
  if (last.line < lines) {
    const count = lines - last.line;
    return {
      line: last.line + 1,
      message: `${count} line(s) after the last checkpoint (line ${last.line}) are covered by none: ${why}`,
    };
  }
  if (!last.final) return { line: last.line, message: `the last checkpoint is not the final one: ${why}` };
  return undefined;
}

/** The line's hash (and the line) when it links onto `expected`, otherwise why not. */
function checkLine(line: Buffer, expected: string): { hash: string; record: Record<string, unknown> } | string {
  if (line.length === 0) return 'empty line';
  let record: unknown;
  try {
    record = JSON.parse(line.toString('utf8'));
  } catch {
    return 'not valid JSON';
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    return 'not a JSON object';
  }
  const { hash, prevHash } = record as { hash?: unknown; prevHash?: unknown };
  if (hash === undefined && prevHash === undefined) {
    return 'record has no hash chain (was the file written with audit.hashChain: false?)';
  }
  if (!isHash(hash)) return '"hash" is missing or not a sha256 hex digest';
  if (!isHash(prevHash)) return '"prevHash" is missing or not a sha256 hex digest';
  if (computeRecordHash(prevHash, record) !== hash) {
    return 'hash does not match the record (the line was modified)';
  }
  if (prevHash !== expected) {
    return expected === GENESIS_HASH
      ? 'prevHash is not the genesis hash (lines missing at the start of the file?)'
      : "prevHash does not match the previous line's hash (a line was deleted, inserted or moved)";
  }
  return { hash, record: record as Record<string, unknown> };
}
