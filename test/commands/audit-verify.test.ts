import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createAuditLog } from '../../src/audit/audit-log.ts';
import { buildAuditRecord } from '../../src/audit/record.ts';
import { stepgate, tempDir } from '../support/run-cli.ts';

/** Writes `n` records through the real audit log (file sink, hash chain), as the gateway does. */
async function writeAuditFile(n: number): Promise<string> {
  const path = join(await tempDir(), 'audit', 'audit.jsonl');
  const log = createAuditLog({
    sinks: [{ type: 'file', path }],
    claims: [],
    failClosed: true,
    hashChain: true,
  });
  const writes = Array.from({ length: n }, (_, i) =>
    log.write(
      buildAuditRecord(
        {
          requestId: `req-${i + 1}`,
          decision: i % 2 === 0 ? 'allow' : 'deny',
          reason: i % 2 === 0 ? 'allowed' : 'insufficient_scope',
          status: i % 2 === 0 ? 200 : 403,
          durationMs: 3.5,
          http: { method: 'GET', path: `/api/orders/${i + 1}`, route: 'orders-read', sourceIp: '10.0.0.7' },
          policyVersion: 'a'.repeat(64),
        },
        { claims: [] },
      ),
    ),
  );
  await Promise.all(writes);
  await log.close();
  return path;
}

describe('stepgate audit verify', () => {
  test('a file written by the audit log → exit 0 "intact"', async () => {
    const path = await writeAuditFile(5);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 5);
    const result = await stepgate(['audit', 'verify', path]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /intact: 5 records, hash chain unbroken/);
    assert.match(result.stdout, new RegExp(`last hash ${JSON.parse(lines[4]!).hash}`));
  });

  test('one edited line → exit 1 naming that line', async () => {
    const path = await writeAuditFile(5);
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.match(lines[2]!, /"status":200/);
    lines[2] = lines[2]!.replace('"status":200', '"status":403');
    await writeFile(path, lines.join('\n'));
    const result = await stepgate(['audit', 'verify', path]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /broken at line 3: hash does not match the record \(the line was modified\)$/m,
    );
    assert.doesNotMatch(result.stdout, /line 3: line 3/);
  });

  test('a deleted line → exit 1 at the line after the gap', async () => {
    const path = await writeAuditFile(5);
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.splice(1, 1);
    await writeFile(path, lines.join('\n'));
    const result = await stepgate(['audit', 'verify', path]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /broken at line 2: prevHash does not match/);
  });

  // Regression: a missing file used to crash with a stack trace and exit 1 ("broken").
  test('a missing file → exit 2, not "broken"', async () => {
    const result = await stepgate(['audit', 'verify', join(await tempDir(), 'nope.jsonl')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^stepgate: cannot read .*nope\.jsonl/);
    assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  test('usage errors → exit 2', async () => {
    for (const args of [
      ['audit', 'verify'],
      ['audit', 'check', 'a.jsonl'],
      ['audit', 'verify', 'a', 'b'],
    ]) {
      const result = await stepgate(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /usage:/);
    }
  });
});
