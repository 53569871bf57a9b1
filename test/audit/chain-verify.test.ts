import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { canonicalJson as canonicalJSON } from '../../src/canonical-json.ts';
import { chainLine, chainRecord, computeRecordHash, GENESIS_HASH } from '../../src/audit/chain.ts';
import { serializeRecord } from '../../src/audit/record.ts';
import { verifyAuditFile } from '../../src/audit/verify.ts';
import { record, tempDir } from './fixtures.ts';

/** Writes `n` chained records the way the audit log does; returns the lines (without `\n`). */
function chainedLines(n: number): string[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const linked = chainLine(record(i + 1), prev);
    prev = linked.hash;
    return linked.line;
  });
}

/** Lines as earlier versions wrote them: DESIGN.md's member order, serialized apart from the hash. */
function earlierLines(n: number): string[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const linked = chainRecord(record(i + 1), prev);
    prev = linked.hash;
    return serializeRecord(linked);
  });
}

async function fileOf(lines: readonly string[], suffix = '\n'): Promise<string> {
  const path = join(await tempDir(), 'audit.jsonl');
  await writeFile(path, lines.join('\n') + suffix);
  return path;
}

describe('canonicalJSON (RFC 8785)', () => {
  test('sorts keys at every level, drops undefined, no whitespace', () => {
    assert.equal(
      canonicalJSON({ b: 1, a: [true, null, { d: 'x', c: undefined, b: 2.5 }], '€': 0, A: -0 }),
      '{"A":0,"a":[true,null,{"b":2.5,"d":"x"}],"b":1,"€":0}',
    );
  });

  test('the hash is sha256(prevHash + canonical JSON without hash), genesis is 64 zeros', () => {
    assert.equal(GENESIS_HASH, '0'.repeat(64));
    const linked = chainRecord({ v: 1, requestId: 'x' }, GENESIS_HASH);
    const expected = createHash('sha256')
      .update(GENESIS_HASH + `{"prevHash":"${GENESIS_HASH}","requestId":"x","v":1}`)
      .digest('hex');
    assert.equal(linked.hash, expected);
    assert.equal(computeRecordHash(GENESIS_HASH, linked), expected, 'its own hash member is ignored');
  });
});

describe('chainLine', () => {
  test('writes the canonical JSON it hashed, hash last: parsed, it is the v1 record chainRecord makes', () => {
    const hostile = record(1, { requestId: 'a\u2028b\u0085c"\\é\ud83d', durationMs: 0.1 + 0.2 });
    const { line, hash } = chainLine(hostile, GENESIS_HASH);
    const linked = chainRecord(hostile, GENESIS_HASH);
    assert.equal(hash, linked.hash);
    assert.deepEqual(JSON.parse(line), linked);
    assert.equal(computeRecordHash(GENESIS_HASH, JSON.parse(line)), hash);
    assert.equal(line, `${canonicalJSON(linked, 'hash').slice(0, -1).replace('\u2028', '\\u2028').replace('\u0085', '\\u0085')},"hash":"${hash}"}`);
    assert.ok(!/[\u0085\u2028]/.test(line), 'line breakers escaped');
  });
});

describe('verifyAuditFile', () => {
  test('a file written by an earlier version (DESIGN.md member order) still verifies, and continues', async () => {
    const earlier = earlierLines(3);
    const next = chainLine(record(4), JSON.parse(earlier[2]!).hash as string);
    const result = await verifyAuditFile(await fileOf([...earlier, next.line]));
    assert.deepEqual(result, { ok: true, lines: 4, lastHash: next.hash, checkpoints: 0 });
  });

  test('an intact file verifies and returns its last hash', async () => {
    const lines = chainedLines(5);
    const result = await verifyAuditFile(await fileOf(lines));
    assert.deepEqual(result, { ok: true, lines: 5, lastHash: JSON.parse(lines[4]!).hash, checkpoints: 0 });
  });

  test('an empty file verifies', async () => {
    assert.deepEqual(await verifyAuditFile(await fileOf([], '')), { ok: true, lines: 0, checkpoints: 0 });
  });

  test('one byte edited in line 3 → brokenLine 3', async () => {
    const lines = chainedLines(6);
    lines[2] = lines[2]!.replace('"status":202', '"status":200');
    const result = await verifyAuditFile(await fileOf(lines));
    assert.equal(result.ok, false);
    assert.equal(result.brokenLine, 3);
    assert.match(result.message!, /line 3: hash does not match/);
  });

  test('an edited hash in line 3 → brokenLine 3', async () => {
    const lines = chainedLines(6);
    const hash = JSON.parse(lines[2]!).hash as string;
    lines[2] = lines[2]!.replace(hash, (hash[0] === 'a' ? 'b' : 'a') + hash.slice(1));
    assert.equal((await verifyAuditFile(await fileOf(lines))).brokenLine, 3);
  });

  test('a deleted line → the line after it is broken', async () => {
    const lines = chainedLines(6);
    lines.splice(3, 1);
    const result = await verifyAuditFile(await fileOf(lines));
    assert.equal(result.brokenLine, 4);
    assert.match(result.message!, /prevHash does not match/);
  });

  test('a deleted first line → brokenLine 1', async () => {
    const result = await verifyAuditFile(await fileOf(chainedLines(4).slice(1)));
    assert.equal(result.brokenLine, 1);
    assert.match(result.message!, /genesis/);
  });

  test('two lines swapped → the first moved line is broken', async () => {
    const lines = chainedLines(6);
    [lines[2], lines[3]] = [lines[3]!, lines[2]!];
    assert.equal((await verifyAuditFile(await fileOf(lines))).brokenLine, 3);
  });

  test('a truncated last line → brokenLine is the last line', async () => {
    const lines = chainedLines(5);
    const path = await fileOf(lines);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.length - 20));
    const result = await verifyAuditFile(path);
    assert.equal(result.brokenLine, 5);
    assert.match(result.message!, /not valid JSON/);
  });

  test('an inserted blank line is broken', async () => {
    const lines = chainedLines(4);
    lines.splice(2, 0, '');
    assert.equal((await verifyAuditFile(await fileOf(lines))).brokenLine, 3);
  });

  test('a file written with hashChain: false fails with a clear message', async () => {
    const result = await verifyAuditFile(
      await fileOf([serializeRecord(record(1)), serializeRecord(record(2))]),
    );
    assert.equal(result.brokenLine, 1);
    assert.match(result.message!, /hashChain: false/);
  });

  test('a line longer than any record is refused without buffering it all', async () => {
    const lines = chainedLines(2);
    lines.push('x'.repeat(2 * 1024 * 1024));
    const result = await verifyAuditFile(await fileOf(lines));
    assert.equal(result.brokenLine, 3);
    assert.match(result.message!, /longer than/);
  });

  test('a missing file rejects', async () => {
    await assert.rejects(verifyAuditFile(join(await tempDir(), 'nope.jsonl')), { code: 'ENOENT' });
  });

  test('a large file verifies line by line across read chunks', async () => {
    const lines = chainedLines(3000);
    const result = await verifyAuditFile(await fileOf(lines));
    assert.deepEqual(result, { ok: true, lines: 3000, lastHash: JSON.parse(lines[2999]!).hash, checkpoints: 0 });
  });
});
