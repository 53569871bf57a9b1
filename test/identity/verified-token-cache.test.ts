/**
 * The verifier's cache of verified tokens, seen through `verify`: a repeated token is verified
 * once; the cache never serves it past its `exp` or for more than 60 s; it forgets tokens whose
 * signing key left the JWKS; a route's issuer restriction still applies on a hit. Lasting
 * rejections are remembered too, and only those. The verifier's `now` moves time; nothing sleeps.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { IssuerConfig } from '../../src/config/schema.ts';
import { type BearerVerifierOptions, createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { issuerConfig, startIssuer, type TestIssuer } from '../support/issuer.ts';

describe('verified-token cache', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  async function setup(fields: Partial<IssuerConfig> = {}, options: Partial<BearerVerifierOptions> = {}) {
    const issuer: TestIssuer = await startIssuer();
    const clock = { now: Date.now() };
    const verifier = createBearerVerifier([issuerConfig({ name: 'ci', issuer: issuer.issuer, ...fields })], {
      fingerprintKey: 'test-fingerprint-key',
      now: () => clock.now,
      ...options,
    });
    cleanup.push(
      () => verifier.close(),
      () => issuer.close(),
    );
    return { issuer, verifier, clock };
  }

  it('verifies a repeated token once and serves the same frozen identity after', async () => {
    const { issuer, verifier } = await setup();
    const token = await issuer.sign();
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    assert.equal(second, first);
    assert.ok(Object.isFrozen(first), 'shared between requests, so immutable');
    assert.deepEqual(verifier.cacheStats().verified, { entries: 1, hits: 1, misses: 1 });
  });

  it('never serves a token at its exp (the full check then refuses it)', async () => {
    const { issuer, verifier, clock } = await setup({ clockSkewSeconds: 0 });
    const exp = Math.floor(clock.now / 1000) + 10;
    const token = await issuer.sign({ exp });
    await verifier.verify(token);
    clock.now = exp * 1000 - 1;
    await verifier.verify(token);
    assert.equal(verifier.cacheStats().verified.hits, 1);
    clock.now = exp * 1000;
    await assert.rejects(verifier.verify(token), { code: 'SG_ERR_TOKEN_EXPIRED' });
  });

  it('keeps an entry no longer than 60 s, then verifies the token again', async () => {
    const { issuer, verifier, clock } = await setup();
    const token = await issuer.sign({ exp: Math.floor(clock.now / 1000) + 3600 });
    const start = clock.now;
    await verifier.verify(token);
    clock.now = start + 59_999;
    await verifier.verify(token);
    assert.deepEqual(verifier.cacheStats().verified, { entries: 1, hits: 1, misses: 1 });
    clock.now = start + 60_000;
    await verifier.verify(token);
    assert.deepEqual(
      verifier.cacheStats().verified,
      { entries: 1, hits: 1, misses: 2 },
      'a miss, then cached afresh',
    );
  });

  it('forgets a token as soon as its key leaves the JWKS', async () => {
    const { issuer, verifier, clock } = await setup({ jwksCooldownSeconds: 30 });
    const oldToken = await issuer.sign();
    await verifier.verify(oldToken);
    await issuer.rotateKeys();
    clock.now += 30_000;
    // A token of the new key has an unknown kid: the verifier refetches the JWKS, without the old key.
    await verifier.verify(await issuer.sign());
    assert.equal(issuer.jwksRequests(), 2);
    await assert.rejects(verifier.verify(oldToken), { code: 'SG_ERR_INVALID_TOKEN' });
  });

  it('keeps tokens whose key is still published after a refetch', async () => {
    const { issuer, verifier, clock } = await setup({ jwksCooldownSeconds: 30 });
    const oldToken = await issuer.sign();
    const identity = await verifier.verify(oldToken);
    await issuer.rotateKeys({ keepOld: true });
    clock.now += 30_000;
    await verifier.verify(await issuer.sign());
    assert.equal(await verifier.verify(oldToken), identity, 'served from the cache');
  });

  it("applies a route's issuer restriction to a cached token too", async () => {
    const { issuer, verifier } = await setup();
    const token = await issuer.sign();
    await verifier.verify(token, ['ci']);
    await assert.rejects(verifier.verify(token, ['keycloak']), { code: 'SG_ERR_WRONG_ISSUER' });
    assert.equal(verifier.cacheStats().verified.hits, 1, 'the refusal came from a cache hit');
  });

  it('is bounded', async () => {
    const { issuer, verifier } = await setup({}, { cache: { maxEntries: 2 } });
    for (let i = 0; i < 3; i++) await verifier.verify(await issuer.sign());
    assert.equal(verifier.cacheStats().verified.entries, 2);
  });

  it('remembers a rejection that will not change: a forged signature, an expiry', async () => {
    const { issuer, verifier } = await setup();
    const forged = (await issuer.sign()).replace(
      /\.[^.]+$/,
      `.${Buffer.alloc(256, 7).toString('base64url')}`,
    );
    const expired = await issuer.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(verifier.verify(forged), { code: 'SG_ERR_INVALID_TOKEN' });
      await assert.rejects(verifier.verify(expired), { code: 'SG_ERR_TOKEN_EXPIRED' });
    }
    assert.deepEqual(verifier.cacheStats().rejected, { entries: 2, hits: 2, misses: 2 });
  });

  it('never remembers a rejection that time or a key fetch could turn around', async () => {
    const { issuer, verifier, clock } = await setup({ clockSkewSeconds: 0 });
    const nbf = Math.floor(clock.now / 1000) + 10;
    const early = await issuer.sign({ nbf });
    await assert.rejects(verifier.verify(early), { code: 'SG_ERR_INVALID_TOKEN' });
    const unknownKid = await issuer.sign({}, { kid: 'not-published-yet' });
    await assert.rejects(verifier.verify(unknownKid), { code: 'SG_ERR_INVALID_TOKEN' });
    assert.equal(verifier.cacheStats().rejected.entries, 0);
    clock.now = nbf * 1000;
    assert.equal((await verifier.verify(early)).sub, 'test-subject');
  });

  it("forgets an issuer's rejections when its keys change", async () => {
    const { issuer, verifier, clock } = await setup({ jwksCooldownSeconds: 30 });
    await verifier.verify(await issuer.sign());
    // Published now, but not fetched yet: a token of the new key without a kid fails the old key.
    await issuer.rotateKeys({ keepOld: true });
    const noKid = await issuer.sign({}, { kid: undefined });
    await assert.rejects(verifier.verify(noKid), { code: 'SG_ERR_INVALID_TOKEN' });
    assert.equal(verifier.cacheStats().rejected.entries, 1);
    clock.now += 30_000;
    await verifier.verify(await issuer.sign()); // its unknown kid fetches the new JWKS
    assert.equal(verifier.cacheStats().rejected.entries, 0);
    assert.equal((await verifier.verify(noKid)).sub, 'test-subject');
  });

  it('can be turned off', async () => {
    const { issuer, verifier } = await setup({}, { cache: false });
    const token = await issuer.sign();
    await verifier.verify(token);
    await verifier.verify(token);
    assert.deepEqual(verifier.cacheStats().verified, { entries: 0, hits: 0, misses: 2 });
  });
});
