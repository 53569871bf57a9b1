/**
 * Stale-while-error: once fetched, an issuer's keys keep verifying while its IdP is down, however
 * long past `jwksCacheMaxAgeSeconds` (no cliff); stale keys are refreshed in the background, and a
 * failed or useless refresh (junk, empty, private or symmetric keys) never replaces them.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { JwksRefreshResult } from '../../src/identity/issuer-keys.ts';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp } from '../support/idp.ts';
import { issuerConfig, startIssuer } from '../support/issuer.ts';

/** A clock tests move, and the refresh results the verifier reports. */
function harness() {
  let clock = Date.now();
  const results: JwksRefreshResult[] = [];
  let waiting: (() => void) | undefined;
  return {
    now: () => clock,
    advance: (seconds: number) => {
      clock += seconds * 1000;
    },
    results,
    onJwksRefresh: (_issuer: string, result: JwksRefreshResult) => {
      results.push(result);
      waiting?.();
    },
    nextRefresh: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
      }),
  };
}

describe('JWKS stale-while-error', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  it('cached keys verify through an outage, long past the cache max age', async () => {
    const idp = await startIdp({ preset: 'keycloak', accessTokenTtlSeconds: 86_400 });
    const h = harness();
    const verifier = createBearerVerifier(
      [
        issuerConfig({
          name: 'keycloak',
          issuer: idp.issuer,
          preset: 'keycloak',
          jwksCacheMaxAgeSeconds: 600,
          jwksCooldownSeconds: 30,
        }),
      ],
      { fingerprintKey: 'k', now: h.now, onJwksRefresh: h.onJwksRefresh },
    );
    cleanup.push(
      () => verifier.close(),
      () => idp.close(),
    );
    const token = await idp.getToken();
    await verifier.verify(token);
    assert.deepEqual(h.results, ['ok']);

    for (const mode of ['503', 'reset'] as const) {
      idp.setDown(mode);
      h.advance(3_600);
      const refreshed = h.nextRefresh();
      assert.equal((await verifier.verify(token)).clientId, 'ci-bot', `stale keys still verify (${mode})`);
      await refreshed;
      assert.equal(h.results.at(-1), 'error', 'the background refresh failed');
      assert.equal((await verifier.verify(token)).clientId, 'ci-bot', 'and the keys were kept');
    }
    assert.equal(verifier.isReady(), true);

    // The IdP is back: the next stale request refreshes in the background, and it succeeds.
    idp.setDown(false);
    h.advance(60);
    const refreshed = h.nextRefresh();
    await verifier.verify(token);
    await refreshed;
    assert.equal(h.results.at(-1), 'ok');
  });

  it('a JWKS without usable keys never replaces good keys', async () => {
    const issuer = await startIssuer();
    const h = harness();
    const verifier = createBearerVerifier(
      [
        issuerConfig({
          name: 'ci',
          issuer: issuer.issuer,
          jwksCacheMaxAgeSeconds: 60,
          jwksCooldownSeconds: 5,
        }),
      ],
      { fingerprintKey: 'k', now: h.now, onJwksRefresh: h.onJwksRefresh },
    );
    cleanup.push(
      () => verifier.close(),
      () => issuer.close(),
    );
    const token = await issuer.sign({ exp: Math.floor(Date.now() / 1000) + 86_400 });
    await verifier.verify(token);

    const useless = [
      { keys: [] },
      { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: issuer.key.kid }] },
      { keys: [{ ...issuer.key.privateJwk, kid: 'private' }] },
      { keys: [{ ...issuer.key.publicJwk, use: 'enc' }] },
      { keys: [{ ...issuer.key.publicJwk, alg: 'HS256' }] },
      { keys: 'none' },
      [],
      'not json at all',
    ];
    for (const document of useless) {
      issuer.serveJwks(document);
      h.advance(120);
      const refreshed = h.nextRefresh();
      await verifier.verify(token);
      await refreshed;
      assert.equal(h.results.at(-1), 'error', JSON.stringify(document));
      assert.equal((await verifier.verify(token)).sub, 'test-subject', JSON.stringify(document));
    }
  });
});
