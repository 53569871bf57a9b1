/**
 * Tamper evidence that survives a cut (issue 8, item 10): the real audit log writes signed
 * checkpoints into its chain (every N records, every S seconds, and a final one at close), and
 * the real `stepgate audit verify --key` finds lines cut from the end and a line rewritten with
 * every later hash recomputed, each by line number, exit 1; an intact file is exit 0.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createAuditLog } from '../../src/audit/audit-log.ts';
import { computeRecordHash } from '../../src/audit/chain.ts';
import { buildAuditRecord } from '../../src/audit/record.ts';
import type { AuditConfig } from '../../src/config/schema.ts';
import { stepgate, tempDir } from '../support/run-cli.ts';

interface Keys {
  readonly privateFile: string;
  readonly publicFile: string;
  readonly privateKey: KeyObject;
}

async function keyPair(dir: string, name = 'checkpoint'): Promise<Keys> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateFile = join(dir, `${name}.pem`);
  const publicFile = join(dir, `${name}.pub.pem`);
  await writeFile(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(publicFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateFile, publicFile, privateKey };
}

const record = (i: number) =>
  buildAuditRecord(
    {
      requestId: `req-${i}`,
      decision: 'allow',
      reason: 'allowed',
      status: 200,
      durationMs: 1,
      http: { method: 'GET', path: `/api/orders/${i}`, route: 'orders-read', sourceIp: '10.0.0.7' },
      policyVersion: 'a'.repeat(64),
    },
    { claims: [] },
  );

function auditConfig(path: string, checkpoints: AuditConfig['checkpoints']): AuditConfig {
  return { sinks: [{ type: 'file', path }], claims: [], failClosed: true, hashChain: true, checkpoints };
}

/** `n` records through the real audit log, one batch each, then close (the final checkpoint). */
async function writeFileWithCheckpoints(keys: Keys, n: number, everyRecords = 3): Promise<string> {
  const path = join(await tempDir(), 'audit.jsonl');
  const log = createAuditLog(auditConfig(path, { keyFile: keys.privateFile, everyRecords, everySeconds: 3600 }));
  for (let i = 1; i <= n; i++) await log.write(record(i));
  await log.close();
  return path;
}

const linesOf = async (path: string) => (await readFile(path, 'utf8')).trimEnd().split('\n');
const kinds = (lines: string[]) =>
  lines.map((l) => {
    const parsed = JSON.parse(l) as { type?: string; final?: boolean };
    return parsed.type === 'checkpoint' ? (parsed.final ? 'F' : 'C') : 'r';
  });

async function verify(path: string, keys?: Keys) {
  return stepgate(['audit', 'verify', path, ...(keys ? ['--key', keys.publicFile] : [])]);
}

describe('signed checkpoints', () => {
  test('every N records and at close; verify --key says intact, exit 0', async () => {
    const keys = await keyPair(await tempDir());
    const path = await writeFileWithCheckpoints(keys, 7);
    const lines = await linesOf(path);
    assert.deepEqual(kinds(lines), ['r', 'r', 'r', 'C', 'r', 'r', 'r', 'C', 'r', 'F']);
    const result = await verify(path, keys);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /intact: 7 records, hash chain unbroken; 3 checkpoint\(s\), signatures verified/);
    assert.match(result.stdout, new RegExp(`last checkpoint at line 10 \\(final, .*\\), hash ${JSON.parse(lines[9]!).hash}`));
  });

  test('lines cut from the end are found, whatever the cut, with the line number', async () => {
    const keys = await keyPair(await tempDir());
    const path = await writeFileWithCheckpoints(keys, 7);
    const lines = await linesOf(path);
    // Keep 9 lines: a record after the last checkpoint. Keep 8: a checkpoint that is not final.
    const cuts: [number, RegExp][] = [
      [9, /broken at line 9: 1 line\(s\) after the last checkpoint \(line 8\) are covered by none/],
      [8, /broken at line 8: the last checkpoint is not the final one/],
      [6, /broken at line 5: 2 line\(s\) after the last checkpoint \(line 4\) are covered by none/],
      [3, /broken at line 3: no checkpoint in the file/],
    ];
    for (const [keep, expected] of cuts) {
      await writeFile(path, lines.slice(0, keep).join('\n') + '\n');
      const result = await verify(path, keys);
      assert.equal(result.code, 1, `${keep} lines kept: ${result.stdout}`);
      assert.match(result.stdout, expected);
      // The chain alone cannot tell; without the key the missing final checkpoint still shows.
      if (keep >= 4) assert.equal((await verify(path)).code, 1);
    }
  });

  test('a line rewritten with every later hash recomputed breaks the next checkpoint’s signature', async () => {
    const keys = await keyPair(await tempDir());
    const path = await writeFileWithCheckpoints(keys, 7);
    const records = (await linesOf(path)).map((l) => JSON.parse(l) as Record<string, unknown>);
    (records[4]!['http'] as { path: string }).path = '/api/orders/innocent';
    let prev = records[3]!['hash'] as string;
    for (const r of records.slice(4)) {
      r['prevHash'] = prev;
      r['hash'] = computeRecordHash(prev, r);
      prev = r['hash'] as string;
    }
    await writeFile(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const unsigned = await verify(path);
    assert.equal(unsigned.code, 0, 'the chain alone is fooled');
    assert.match(unsigned.stdout, /signatures NOT checked \(give --key PUBLIC_KEY_FILE\)/);
    const result = await verify(path, keys);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /broken at line 8: the checkpoint's signature does not cover the chain before it: a line between line 4 and this one was rewritten/,
    );
  });

  test('a checkpoint signed by another key is refused', async () => {
    const dir = await tempDir();
    const keys = await keyPair(dir);
    const other = await keyPair(dir, 'other');
    const path = await writeFileWithCheckpoints(keys, 2);
    const result = await verify(path, other);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /broken at line 3: checkpoint signed by another key/);
  });

  test('every S seconds when records came, from a JWK key given as text (e.g. from the environment)', async (t) => {
    // The S-second interval runs on node:test's fake setInterval: the test moves time on.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const keys = await keyPair(await tempDir());
    const path = join(await tempDir(), 'audit.jsonl');
    const jwk = JSON.stringify(keys.privateKey.export({ format: 'jwk' }));
    const log = createAuditLog(auditConfig(path, { key: jwk, everyRecords: 1000, everySeconds: 1 }));
    try {
      await log.write(record(1));
      t.mock.timers.tick(999);
      assert.deepEqual(kinds(await linesOf(path)), ['r'], 'no checkpoint before S seconds');
      t.mock.timers.tick(1);
      let lines: string[] = [];
      for (let i = 0; i < 100 && kinds(lines).at(-1) !== 'C'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        lines = await linesOf(path);
      }
      assert.deepEqual(kinds(lines), ['r', 'C']);
      t.mock.timers.tick(1000);
    } finally {
      await log.close();
    }
    // No new records in the second interval, so no checkpoint for it: only the final one.
    assert.deepEqual(kinds(await linesOf(path)), ['r', 'C', 'F']);
    assert.equal((await verify(path, keys)).code, 0);
  });

  test('a reopened file continues the chain; each run ends with its own final checkpoint', async () => {
    const keys = await keyPair(await tempDir());
    const path = await writeFileWithCheckpoints(keys, 2);
    const log = createAuditLog(auditConfig(path, { keyFile: keys.privateFile, everyRecords: 3, everySeconds: 3600 }));
    await log.write(record(3));
    await log.close();
    assert.deepEqual(kinds(await linesOf(path)), ['r', 'r', 'F', 'r', 'F']);
    assert.equal((await verify(path, keys)).code, 0);
  });

  test('--key that is not an Ed25519 key, or missing → exit 2', async () => {
    const dir = await tempDir();
    const path = await writeFileWithCheckpoints(await keyPair(dir), 1);
    const rsa = join(dir, 'rsa.pem');
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(rsa, publicKey.export({ type: 'spki', format: 'pem' }));
    for (const [file, expected] of [
      [rsa, /is a rsa key; checkpoints are signed with Ed25519/],
      [join(dir, 'missing.pem'), /cannot use --key .*missing\.pem/],
    ] as const) {
      const result = await stepgate(['audit', 'verify', path, '--key', file]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, expected);
    }
  });
});
