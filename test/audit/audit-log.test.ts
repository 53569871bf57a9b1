import assert from 'node:assert/strict';
import { appendFile, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { createAuditLog } from '../../src/audit/audit-log.ts';
import { GENESIS_HASH } from '../../src/audit/chain.ts';
import { verifyAuditFile } from '../../src/audit/verify.ts';
import type { AuditConfig } from '../../src/config/schema.ts';
import { record, tempDir } from './fixtures.ts';

function fileConfig(path: string, overrides: Partial<AuditConfig> = {}): AuditConfig {
  return { sinks: [{ type: 'file', path }], claims: [], failClosed: true, hashChain: true, ...overrides };
}

async function linesOf(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  assert.ok(text.endsWith('\n'), 'every line is terminated');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Counts FileHandle#write calls made while `fn` runs. */
async function countFileWrites(fn: () => Promise<unknown>): Promise<number> {
  const probe = await open(join(await tempDir(), 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  let calls = 0;
  proto.write = function (this: unknown, ...args: unknown[]) {
    calls += 1;
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto.write = original;
  }
  return calls;
}

describe('file sink', () => {
  test('records land one per line, in order, chained from genesis; parent dirs are created', async () => {
    const path = join(await tempDir(), 'nested', 'dir', 'audit.jsonl');
    const log = createAuditLog(fileConfig(path));
    await log.write(record(1));
    await log.write(record(2));
    await log.close();
    const lines = await linesOf(path);
    assert.deepEqual(
      lines.map((l) => l['requestId']),
      ['req-1', 'req-2'],
    );
    assert.equal(lines[0]!['prevHash'], GENESIS_HASH);
    assert.equal(lines[1]!['prevHash'], lines[0]!['hash']);
    assert.deepEqual(await verifyAuditFile(path), { ok: true, lines: 2, lastHash: lines[1]!['hash'], checkpoints: 0 });
  });

  test('500 concurrent writes → 500 intact lines, a valid chain, and one write per batch', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const counts = { ok: 0, error: 0 };
    const log = createAuditLog(fileConfig(path), { onRecord: (_sink, result) => counts[result]++ });
    const syscalls = await countFileWrites(() =>
      Promise.all(Array.from({ length: 500 }, (_, i) => log.write(record(i)))),
    );
    await log.close();
    assert.equal(syscalls, 1, 'records queued in one tick are written together');
    const lines = await linesOf(path);
    assert.equal(lines.length, 500);
    assert.deepEqual(
      lines.map((l) => l['requestId']),
      Array.from({ length: 500 }, (_, i) => `req-${i}`),
      'chain order is write order',
    );
    assert.deepEqual(await verifyAuditFile(path), { ok: true, lines: 500, lastHash: lines[499]!['hash'], checkpoints: 0 });
    assert.deepEqual(counts, { ok: 500, error: 0 });
  });

  test('a reopened log continues the chain of the existing file', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    for (const batch of [[1, 2], [3], [4, 5]]) {
      const log = createAuditLog(fileConfig(path));
      await Promise.all(batch.map((n) => log.write(record(n))));
      await log.close();
    }
    const result = await verifyAuditFile(path);
    assert.equal(result.ok, true, result.message);
    assert.equal(result.lines, 5);
  });

  test('a torn last line (crash mid-write) is left for verify to report; new records start on a fresh line', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const first = createAuditLog(fileConfig(path));
    await first.write(record(1));
    await first.close();
    await appendFile(path, '{"v":1,"requestId":"torn');
    const second = createAuditLog(fileConfig(path));
    await second.write(record(2));
    await second.close();
    const text = await readFile(path, 'utf8');
    assert.equal(text.split('\n').length, 4);
    const result = await verifyAuditFile(path);
    assert.equal(result.brokenLine, 2);
  });

  test('durable writes resolve after the line is on disk', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const log = createAuditLog(fileConfig(path));
    await log.write(record(1), { durable: true });
    assert.equal((await linesOf(path)).length, 1);
    await log.close();
  });

  test('hashChain: false writes plain records', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const log = createAuditLog(fileConfig(path, { hashChain: false }));
    await log.write(record(1));
    await log.close();
    const [line] = await linesOf(path);
    assert.equal('hash' in line!, false);
    assert.equal('prevHash' in line!, false);
    assert.match((await verifyAuditFile(path)).message!, /hashChain: false/);
  });

  test('ready() opens the sinks; close() flushes pending records and refuses later writes', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const log = createAuditLog(fileConfig(path));
    assert.equal(await log.ready(), true);
    assert.ok((await stat(path)).isFile());
    const pending = Array.from({ length: 20 }, (_, i) => log.write(record(i)));
    await log.close();
    await Promise.all(pending);
    assert.equal((await linesOf(path)).length, 20);
    assert.equal(await log.ready(), false);
    await assert.rejects(log.write(record(99)), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
  });
});

describe('stdout sink', () => {
  test('one JSON line per record, sharing the chain with the file sink', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c));
    const sinks: AuditConfig['sinks'] = [{ type: 'stdout' }, { type: 'file', path }];
    const log = createAuditLog(fileConfig(path, { sinks }), { stdout });
    await Promise.all([log.write(record(1)), log.write(record(2))]);
    await log.close();
    assert.equal(Buffer.concat(chunks).toString('utf8'), await readFile(path, 'utf8'));
  });
});

describe('failClosed', () => {
  test('a sink that cannot be opened: write rejects, preflight throws, ready is false', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'a-file'), '');
    const errors: string[] = [];
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => errors.push(c.toString()));
    const counts = { ok: 0, error: 0 };
    const log = createAuditLog(fileConfig(join(dir, 'a-file', 'audit.jsonl')), {
      stderr,
      onRecord: (sink, result) => {
        assert.equal(sink, 'file');
        counts[result]++;
      },
    });
    log.preflight(); // nothing has failed yet
    await assert.rejects(
      log.write(record(1)),
      (err: Error & { code?: string; cause?: { code?: string } }) => {
        assert.equal(err.code, 'SG_ERR_AUDIT_UNAVAILABLE');
        assert.ok(['ENOTDIR', 'EEXIST'].includes(err.cause?.code ?? ''), err.cause?.code);
        return true;
      },
    );
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE', status: 503 });
    await assert.rejects(log.write(record(2)), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    assert.equal(await log.ready(), false);
    assert.deepEqual(counts, { ok: 0, error: 2 });
    assert.equal(errors.length, 1, 'reported once per failure streak');
    assert.match(errors[0]!, /failed \((ENOTDIR|EEXIST)/);
    await log.close();
  });

  test('a full device (ENOSPC): write rejects, preflight throws', async () => {
    const log = createAuditLog(fileConfig('/dev/full'), { stderr: new PassThrough() });
    await assert.rejects(
      log.write(record(1)),
      (err: Error & { code?: string; cause?: { code?: string } }) => {
        assert.equal(err.code, 'SG_ERR_AUDIT_UNAVAILABLE');
        assert.equal(err.cause?.code, 'ENOSPC');
        return true;
      },
    );
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    await log.close();
  });

  test('recovers when a later write succeeds, and the file chain has no gap', async () => {
    const dir = await tempDir();
    const blocker = join(dir, 'logs');
    await writeFile(blocker, ''); // a file where the directory should be
    const path = join(blocker, 'audit.jsonl');
    const errors: string[] = [];
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => errors.push(c.toString()));
    const log = createAuditLog(fileConfig(path), { stderr });
    await assert.rejects(log.write(record(1)), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });

    await rm(blocker);
    await mkdir(blocker);
    assert.equal(await log.ready(), true, 'the probe reopens the file');
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE' }, 'until a write succeeds');
    await log.write(record(2));
    log.preflight();
    await log.write(record(3));
    await log.close();
    assert.equal(errors.length, 2);
    assert.match(errors[1]!, /recovered; 1 record\(s\) were not written/);
    assert.deepEqual((await verifyAuditFile(path)).lines, 2);
    assert.equal((await verifyAuditFile(path)).ok, true);
  });

  test('a failing stdout stream fails closed too', async () => {
    const stdout = new PassThrough();
    stdout.destroy();
    const log = createAuditLog(
      { sinks: [{ type: 'stdout' }], claims: [], failClosed: true, hashChain: true },
      { stdout, stderr: new PassThrough() },
    );
    await assert.rejects(log.write(record(1)), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    await log.close();
  });

  test('a full queue is refused rather than buffered without bound', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const log = createAuditLog(fileConfig(path), { maxPending: 5, stderr: new PassThrough() });
    const accepted = Array.from({ length: 5 }, (_, i) => log.write(record(i)));
    assert.throws(() => log.preflight(), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    await assert.rejects(log.write(record(6)), { code: 'SG_ERR_AUDIT_UNAVAILABLE' });
    await Promise.all(accepted);
    log.preflight();
    await log.close();
  });
});

describe('failClosed: false', () => {
  test('failures are counted and reported once per streak, never thrown', async () => {
    const errors: string[] = [];
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => errors.push(c.toString()));
    const counts = { ok: 0, error: 0 };
    const log = createAuditLog(fileConfig('/dev/full', { failClosed: false }), {
      stderr,
      onRecord: (_sink, result) => counts[result]++,
    });
    await log.write(record(1));
    await Promise.all([log.write(record(2)), log.write(record(3))]);
    log.preflight();
    assert.deepEqual(counts, { ok: 0, error: 3 });
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /ENOSPC.*records are dropped/);
    await log.close();
  });
});
