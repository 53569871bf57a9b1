/** Sealing (AES-256-GCM): round trips, a fresh nonce per write, and nothing opens that was touched. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSealer, deriveKey } from '../../../src/identity/sessions/seal.ts';

const key = deriveKey('a-cookie-secret-of-at-least-32-bytes', 'session cookie v1');
const sealer = createSealer(key);
const value = { id: 'abc', tokens: ['x'.repeat(50)], n: 1 };

describe('sealing', () => {
  it('round-trips JSON values', () => {
    assert.deepEqual(sealer.open(sealer.seal(value, 'aad'), 'aad'), value);
  });

  it('never writes the same bytes twice (fresh nonce)', () => {
    const seen = new Set(Array.from({ length: 100 }, () => sealer.seal(value, 'aad')));
    assert.equal(seen.size, 100);
    const nonces = new Set(
      [...seen].map((s) => Buffer.from(s.slice(3), 'base64url').subarray(0, 12).toString('hex')),
    );
    assert.equal(nonces.size, 100);
  });

  it('does not reveal the value', () => {
    assert.ok(!sealer.seal({ secret: 'hunter2' }, 'aad').includes('hunter2'));
    assert.ok(
      !Buffer.from(sealer.seal({ secret: 'hunter2' }, 'aad').slice(3), 'base64url').includes('hunter2'),
    );
  });

  it('opens nothing that was changed, cut, moved or keyed otherwise', () => {
    const sealed = sealer.seal(value, 'aad');
    for (let i = 3; i < sealed.length; i++) {
      const flipped = sealed.slice(0, i) + (sealed[i] === 'A' ? 'B' : 'A') + sealed.slice(i + 1);
      const opened = sealer.open(flipped, 'aad');
      // The last character may carry only padding bits that base64url decoding ignores.
      if (opened !== undefined) assert.equal(i, sealed.length - 1);
    }
    for (let cut = 1; cut < sealed.length - 3; cut += 7)
      assert.equal(sealer.open(sealed.slice(0, -cut), 'aad'), undefined);
    assert.equal(sealer.open(sealed, 'other-aad'), undefined);
    assert.equal(
      createSealer(deriveKey('another-secret-of-at-least-32-bytes', 'session cookie v1')).open(sealed, 'aad'),
      undefined,
    );
    assert.equal(
      createSealer(deriveKey('a-cookie-secret-of-at-least-32-bytes', 'login cookie v1')).open(sealed, 'aad'),
      undefined,
    );
    assert.equal(sealer.open(`v2${sealed.slice(2)}`, 'aad'), undefined);
    assert.equal(sealer.open('', 'aad'), undefined);
    assert.equal(sealer.open('v1.', 'aad'), undefined);
  });

  it('derives different keys for different purposes', () => {
    assert.notDeepEqual(deriveKey('s'.repeat(32), 'a'), deriveKey('s'.repeat(32), 'b'));
    assert.equal(deriveKey('s'.repeat(32), 'a').length, 32);
    assert.throws(() => createSealer(Buffer.alloc(16)), TypeError);
  });
});
