/**
 * An unknown `kid` costs at most one JWKS fetch per issuer per cooldown, concurrent callers share
 * that fetch, and this holds during an IdP outage too: a flood of made-up kids cannot turn the
 * gateway into an amplifier against its IdP.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp } from '../support/idp.ts';
import { issuerConfig } from '../support/issuer.ts';

describe('unknown kid storm', () => {
  it('at most one JWKS fetch per cooldown, also while the IdP is down', async (t) => {
    const idp = await startIdp({ preset: 'keycloak', accessTokenTtlSeconds: 3_600 });
    let clock = Date.now();
    let refreshes = 0;
    const verifier = createBearerVerifier(
      [issuerConfig({ name: 'keycloak', issuer: idp.issuer, preset: 'keycloak', jwksCooldownSeconds: 30 })],
      { fingerprintKey: 'k', now: () => clock, onJwksRefresh: () => refreshes++ },
    );
    t.after(async () => {
      verifier.close();
      await idp.close();
    });
    // Requests the IdP saw for keys: discovery is retried after a failed JWKS fetch.
    const keyRequests = () => idp.jwksRequests() + idp.discoveryRequests();
    const good = await idp.getToken();
    await verifier.verify(good);
    assert.equal(keyRequests(), 2);

    const storm = async (n: number) => {
      const tokens = await Promise.all(
        Array.from({ length: n }, (_, i) => idp.signWithIdpKey({}, { kid: `made-up-${clock}-${i}` })),
      );
      const results = await Promise.allSettled(tokens.map((token) => verifier.verify(token)));
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.equal((r.reason as { code: string }).code, 'SG_ERR_INVALID_TOKEN');
      }
    };

    for (const mode of [false, '503', 'reset'] as const) {
      idp.setDown(mode);
      clock += 30_000;
      const before = keyRequests();
      await storm(100);
      assert.equal(keyRequests(), before + 1, `one fetch for 100 concurrent unknown kids (down: ${mode})`);
      await storm(50);
      clock += 29_000;
      await storm(50);
      assert.equal(keyRequests(), before + 1, `none more within the cooldown (down: ${mode})`);
      assert.equal((await verifier.verify(good)).clientId, 'ci-bot', 'known keys keep verifying');
    }
    assert.equal(refreshes, 4);
  });
});
