/**
 * `assertion.keys`: P-256 keys as PEM or JWK, from a file or inline (`${VAR}`); the first must be
 * private; every problem names its key path and never the key material; the default `kid` is the
 * RFC 7638 thumbprint, so every replica given the same key publishes the same `kid`.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint } from 'jose';
import { readAssertionKeys } from '../../src/config/assertion-keys.ts';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pkcs8 = (key = p256().privateKey) => key.export({ format: 'pem', type: 'pkcs8' }) as string;

/** A minimal valid config with `assertion`. */
function config(assertion: unknown, env: Record<string, string> = {}) {
  return parseConfig({ targets: {}, routes: [], assertion }, env);
}

function problems(assertion: unknown, env: Record<string, string> = {}): string[] {
  try {
    config(assertion, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stepgate-keys-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('assertion.keys', () => {
  test('PKCS#8, SEC1 and JWK private keys and a public second key are read; the first signs', async () => {
    const a = p256();
    const b = p256();
    const c = p256();
    const sec1 = a.privateKey.export({ format: 'pem', type: 'sec1' }) as string;
    const jwk = JSON.stringify({ ...b.privateKey.export({ format: 'jwk' }), kid: 'from-the-jwk' });
    const spki = c.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const parsed = config({ keys: [{ file: await file('a.pem', sec1) }, { key: '${KEY_B}' }, { file: await file('c.pub', spki), kid: 'old' }] }, { KEY_B: jwk });
    const { keys, problems: found } = readAssertionKeys(parsed.assertion);
    assert.deepEqual(found, []);
    assert.equal(keys.length, 3);
    assert.ok(keys[0]!.privateKey);
    assert.equal(keys[1]!.kid, 'from-the-jwk');
    assert.equal(keys[2]!.kid, 'old');
    assert.equal(keys[2]!.privateKey, undefined);
    for (const key of keys) {
      assert.deepEqual(Object.keys(key.publicJwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      assert.equal(key.publicJwk.alg, 'ES256');
    }
  });

  test('the default kid is the RFC 7638 thumbprint, as jose computes it', async () => {
    const { privateKey, publicKey } = p256();
    const parsed = config({ keys: [{ key: pkcs8(privateKey) }] });
    const [key] = readAssertionKeys(parsed.assertion).keys;
    assert.equal(key!.kid, await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }), 'sha256'));
  });

  test('every unusable key is reported with its key path, never with its content', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const encrypted = p256().privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }) as string;
    const secretLooking = 'not-a-key-but-a-secret-value-0123456789';
    const rs256Jwk = JSON.stringify({ ...p256().privateKey.export({ format: 'jwk' }), alg: 'RS256' });
    const unusable = [
      { key: p256().publicKey.export({ format: 'pem', type: 'spki' }) as string },
      { key: rsa },
      { key: p384 },
      { file: await file('encrypted.pem', encrypted) },
      { key: secretLooking },
      { key: `-----BEGIN PRIVATE KEY-----\n${secretLooking}\n-----END PRIVATE KEY-----` },
      { key: rs256Jwk },
      { file: join(dir, 'missing.pem') },
    ];
    // A schema problem stops the pass before any file is read.
    assert.deepEqual(problems({ keys: [...unusable, { file: 'x', key: 'y' }] }), [
      'assertion.keys[8]: give one of file or key',
    ]);
    const judged = problems({ keys: unusable });
    assert.deepEqual(judged, [
      'assertion.keys[0].key: the first key signs: it must be a private key',
      'assertion.keys[1].key: must be an EC P-256 key: assertions are ES256',
      'assertion.keys[2].key: must be an EC P-256 key: assertions are ES256',
      'assertion.keys[3].file: is encrypted: give an unencrypted PKCS#8 or SEC1 key (keep it in a secret)',
      'assertion.keys[4].key: is neither a PEM key nor a JWK',
      'assertion.keys[5].key: is not a readable PEM key or JWK',
      'assertion.keys[6].key: its JWK "alg" must be ES256',
      `assertion.keys[7].file: cannot read ${join(dir, 'missing.pem')}: ENOENT`,
    ]);
    assert.ok(!judged.join('\n').includes(secretLooking));
  });

  test('two keys with one kid → refused (a verifier could not tell them apart)', () => {
    assert.deepEqual(problems({ keys: [{ key: pkcs8(), kid: 'k1' }, { key: pkcs8(), kid: 'k1' }] }), [
      'assertion.keys[1]: same kid "k1" as assertion.keys[0]',
    ]);
  });

  test('a missing ${VAR} names the key path', () => {
    assert.deepEqual(problems({ keys: [{ key: '${STEPGATE_ASSERTION_KEY}' }] }), [
      'assertion.keys[0].key: environment variable STEPGATE_ASSERTION_KEY is not set',
    ]);
  });
});
