/**
 * `tokenId` (audit, logs) is the token's `jti` when that is a short, safe string; otherwise a keyed
 * HMAC fingerprint. Never the token, and not linkable across deployments with different keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { issuerConfig, startIssuer } from '../support/issuer.ts';

describe('token id', () => {
  it('is the jti when safe, else a keyed fingerprint', async (t) => {
    const issuer = await startIssuer();
    const make = (key: string) =>
      createBearerVerifier([issuerConfig({ name: 'ci', issuer: issuer.issuer })], { fingerprintKey: key });
    const a = make('fingerprint-key-a');
    const b = make('fingerprint-key-b');
    t.after(async () => {
      a.close();
      b.close();
      await issuer.close();
    });

    assert.equal((await a.verify(await issuer.sign({ jti: 'abc-123' }))).tokenId, 'abc-123');

    for (const jti of [undefined, '', 'x'.repeat(200), 'has space', 'quote"', 'new\nline', 42]) {
      const token = await issuer.sign({ jti });
      const idA = (await a.verify(token)).tokenId;
      assert.match(idA, /^fp:[0-9a-f]{16}$/, String(jti));
      assert.equal((await a.verify(token)).tokenId, idA, 'stable for one key');
      assert.notEqual((await b.verify(token)).tokenId, idA, 'another key, another fingerprint');
    }
  });
});
