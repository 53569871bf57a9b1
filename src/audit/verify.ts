/**
 * `stepgate audit verify FILE`: walks an audit file line by line (files can be large, so it
 * streams) and checks the hash chain described in chain.ts. Reports the first broken line.
 */
import { createReadStream } from 'node:fs';
import { computeRecordHash, GENESIS_HASH, isHash } from './chain.ts';

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
}

/** Lines longer than this are refused rather than buffered: records are a few KB at most. */
const MAX_LINE_BYTES = 1024 * 1024;

/** Verifies the hash chain of the audit file at `path`; rejects only when it cannot be read. */
export async function verifyAuditFile(path: string): Promise<VerifyResult> {
  let expected = GENESIS_HASH;
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  const check = (line: Buffer): string | undefined => {
    lineNo += 1;
    const problem = checkLine(line, expected);
    if (typeof problem === 'object') {
      expected = problem.hash;
      return undefined;
    }
    return problem;
  };

  const broken = (message: string): VerifyResult => ({
    ok: false,
    lines: lineNo,
    brokenLine: lineNo,
    message: `line ${lineNo}: ${message}`,
    ...(lineNo > 1 ? { lastHash: expected } : {}),
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
  return lineNo === 0 ? { ok: true, lines: 0 } : { ok: true, lines: lineNo, lastHash: expected };
}

/** The line's hash when it links onto `expected`, otherwise why not. */
function checkLine(line: Buffer, expected: string): { hash: string } | string {
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
  return { hash };
}
