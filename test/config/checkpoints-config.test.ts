/** `audit.checkpoints`: one Ed25519 key, readable, on a hash chain; each problem names its key. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'stepgate-checkpoints-'));
const ed25519 = join(dir, 'ed25519.pem');
writeFileSync(ed25519, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
const rsa = join(dir, 'rsa.pem');
writeFileSync(
  rsa,
  generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
);

const config = (audit: Record<string, unknown>) => ({
  targets: { orders: { type: 'http', url: 'http://127.0.0.1:1' } },
  routes: [],
  audit,
});

function problems(audit: Record<string, unknown>): string[] {
  try {
    parseConfig(config(audit), {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('audit.checkpoints', () => {
  it('takes a PEM key file with defaults for how often', () => {
    const parsed = parseConfig(config({ checkpoints: { keyFile: ed25519 } }), {});
    assert.deepEqual(parsed.audit.checkpoints, { keyFile: ed25519, everyRecords: 1000, everySeconds: 60 });
  });

  it('names what is wrong', () => {
    assert.deepEqual(problems({ checkpoints: { keyFile: join(dir, 'missing.pem') } }), [
      `audit.checkpoints.keyFile: cannot read ${join(dir, 'missing.pem')}: ENOENT`,
    ]);
    assert.deepEqual(problems({ checkpoints: { keyFile: rsa } }), [
      'audit.checkpoints.keyFile: the key is a rsa key; checkpoints are signed with Ed25519',
    ]);
    assert.deepEqual(problems({ checkpoints: { key: 'not a key' } }), [
      'audit.checkpoints.key: the key is not a PEM or JWK key',
    ]);
    assert.deepEqual(problems({ checkpoints: { keyFile: ed25519, key: 'x' } }), [
      'audit.checkpoints: needs exactly one of keyFile and key',
    ]);
    assert.deepEqual(problems({ checkpoints: {} }), ['audit.checkpoints: needs exactly one of keyFile and key']);
    assert.deepEqual(problems({ hashChain: false, checkpoints: { keyFile: ed25519 } }), [
      'audit.checkpoints: needs audit.hashChain: true (checkpoints sign the chain)',
    ]);
    assert.deepEqual(problems({ checkpoints: { keyFile: ed25519, everyRecords: 0 } }).length, 1);
  });
});
