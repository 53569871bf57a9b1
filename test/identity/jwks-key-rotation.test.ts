/**
 * Key rotation at the IdP: a token with a new `kid` makes the verifier fetch the JWKS once, the
 * new key then verifies without further fetches, and tokens of the retired key stop verifying.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp } from '../support/idp.ts';
import { issuerConfig, startIssuer } from '../support/issuer.ts';

describe('JWKS key rotation', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  it('a new kid is fetched once (after the cooldown), then served from the cache', async () => {
    const idp = await startIdp({ preset: 'keycloak' });
    let clock = Date.now();
    const verifier = createBearerVerifier(
      [issuerConfig({ name: 'keycloak', issuer: idp.issuer, preset: 'keycloak', jwksCooldownSeconds: 30 })],
      { fingerprintKey: 'test-fingerprint-key', now: () => clock },
    );
    cleanup.push(
      () => verifier.close(),
      () => idp.close(),
    );
    const oldToken = await idp.getToken();
    await verifier.verify(oldToken);
    assert.equal(idp.jwksRequests(), 1);

    await idp.rotateKeys();
    const newTokens = await Promise.all([idp.getToken(), idp.getToken(), idp.getToken()]);
    // Keys were fetched a moment ago: the cooldown holds even for a genuine rotation.
    await assert.rejects(verifier.verify(newTokens[0]!), { code: 'SG_ERR_INVALID_TOKEN' });
    assert.equal(idp.jwksRequests(), 1);

    clock += 30_000;
    await Promise.all(newTokens.map((t) => verifier.verify(t)));
    assert.equal(idp.jwksRequests(), 2, 'concurrent callers shared one fetch');
    for (const t of newTokens) await verifier.verify(t);
    assert.equal(idp.jwksRequests(), 2, 'no fetch once the key is cached');

    // The retired key is gone: its tokens no longer verify, and (within the cooldown) cost no fetch.
    await assert.rejects(verifier.verify(oldToken), { code: 'SG_ERR_INVALID_TOKEN' });
    assert.equal(idp.jwksRequests(), 2);
  });

  it('tokens without kid verify with whichever published key matches', async () => {
    const issuer = await startIssuer();
    const verifier = createBearerVerifier([issuerConfig({ name: 'ci', issuer: issuer.issuer })], {
      fingerprintKey: 'k',
    });
    cleanup.push(
      () => verifier.close(),
      () => issuer.close(),
    );
    const oldKeyToken = await issuer.sign({}, { kid: undefined });
    await issuer.rotateKeys({ keepOld: true });
    const newKeyToken = await issuer.sign({}, { kid: undefined });
    assert.equal((await verifier.verify(oldKeyToken)).sub, 'test-subject');
    assert.equal((await verifier.verify(newKeyToken)).sub, 'test-subject');
  });
});
