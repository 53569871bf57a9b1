/**
 * With no keys ever fetched and the IdP unreachable, a token cannot be judged: that is a 503
 * (`SG_ERR_IDP_UNAVAILABLE`), not a 401, and not a fetch per request. The verifier recovers on its
 * own once the IdP answers, and discovery documents that lie are refused.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp } from '../support/idp.ts';
import { issuerConfig, startIssuer } from '../support/issuer.ts';

describe('IdP unavailable before keys were ever fetched', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  it('is a 503, shares one fetch, then recovers after the cooldown', async () => {
    const idp = await startIdp({ preset: 'okta' });
    let clock = Date.now();
    const verifier = createBearerVerifier(
      [issuerConfig({ name: 'okta', issuer: idp.issuer, preset: 'okta', jwksCooldownSeconds: 5 })],
      { fingerprintKey: 'k', now: () => clock },
    );
    cleanup.push(
      () => verifier.close(),
      () => idp.close(),
    );
    const token = await idp.getToken();
    idp.setDown('503');

    await verifier.warm(); // never throws
    assert.equal(verifier.isReady(), false);
    clock += 5_000;
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => verifier.verify(token)));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as { code: string }).code, 'SG_ERR_IDP_UNAVAILABLE');
      assert.equal((r.reason as { status: number }).status, 503);
    }
    assert.equal(idp.discoveryRequests(), 2, 'warm, then one fetch shared by 20 callers');

    idp.setDown(false);
    await assert.rejects(verifier.verify(token), { code: 'SG_ERR_IDP_UNAVAILABLE' }, 'within the cooldown');
    assert.equal(idp.discoveryRequests(), 2);
    clock += 5_000;
    assert.equal((await verifier.verify(token)).issuer, 'okta');
    assert.equal(verifier.isReady(), true);
  });

  it('a hanging IdP is given up on after the fetch time-out', async () => {
    const idp = await startIdp({ preset: 'keycloak' });
    const verifier = createBearerVerifier(
      [issuerConfig({ name: 'kc', issuer: idp.issuer, preset: 'keycloak' })],
      {
        fingerprintKey: 'k',
        fetchTimeoutMs: 200,
      },
    );
    cleanup.push(
      () => verifier.close(),
      () => idp.close(),
    );
    const token = await idp.getToken();
    idp.setDown('hang');
    const started = performance.now();
    await assert.rejects(verifier.verify(token), { code: 'SG_ERR_IDP_UNAVAILABLE' });
    assert.ok(performance.now() - started < 2_000);
  });

  it('a discovery document naming another issuer, or an http jwks_uri off loopback, gives no keys', async () => {
    const issuer = await startIssuer({ path: '/realms/platform' });
    cleanup.push(() => issuer.close());
    const documents = [
      { issuer: `${issuer.issuer}/`, jwks_uri: issuer.jwksUri },
      { issuer: 'https://evil.example.com/realms/platform', jwks_uri: issuer.jwksUri },
      { issuer: issuer.issuer, jwks_uri: 'http://evil.example.com/jwks' },
      { issuer: issuer.issuer, jwks_uri: 'file:///etc/passwd' },
      { issuer: issuer.issuer },
      '{not json',
    ];
    for (const document of documents) {
      issuer.serveDiscovery(document);
      const verifier = createBearerVerifier([issuerConfig({ name: 'ci', issuer: issuer.issuer })], {
        fingerprintKey: 'k',
      });
      await assert.rejects(
        verifier.verify(await issuer.sign()),
        { code: 'SG_ERR_IDP_UNAVAILABLE' },
        JSON.stringify(document),
      );
      verifier.close();
    }
    assert.equal(issuer.jwksRequests(), 0);
  });
});
