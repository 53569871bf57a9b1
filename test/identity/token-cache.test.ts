/**
 * The verified-token cache on its own (token-cache.ts): bounded, least recently used evicted
 * first, entries never outliving min(exp, 60 s), and dropped with their signing key. Time is a
 * number passed in; nothing sleeps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TOKEN_CACHE_TTL_MS, TokenCache } from '../../src/identity/token-cache.ts';

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const origin = (kid = 'k1', expMs = T0 + HOUR, issuer = 'ci') => ({ issuer, kid, expMs });

describe('verified-token cache', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const cache = new TokenCache<string>({ maxEntries: 3 });
    for (const token of ['a', 'b', 'c']) cache.set(token, token.toUpperCase(), origin(), T0);
    assert.equal(cache.get('a', T0), 'A', 'a is now the most recently used');
    cache.set('d', 'D', origin(), T0);
    assert.equal(cache.get('b', T0), undefined, 'b was the least recently used');
    assert.deepEqual(
      ['a', 'c', 'd'].map((t) => cache.get(t, T0)),
      ['A', 'C', 'D'],
    );
    assert.equal(cache.stats().entries, 3);
  });

  it('never evicts an entry that keeps being used, whatever else comes and goes', () => {
    const cache = new TokenCache<string>({ maxEntries: 8 });
    cache.set('hot', 'H', origin(), T0);
    for (let i = 0; i < 200; i++) {
      cache.set(`cold-${i}`, 'C', origin(), T0);
      assert.equal(cache.get('hot', T0), 'H', `after ${i + 1} other tokens`);
    }
    assert.equal(cache.stats().entries, 8);
  });

  it('serves only the exact token, even when another shares its map key', () => {
    const signature = 's'.repeat(64);
    const alice = `header.alice.${signature}`;
    const mallory = `header.mallory.${signature}`;
    const cache = new TokenCache<string>();
    cache.set(alice, 'alice', origin(), T0);
    assert.equal(cache.get(mallory, T0), undefined);
    assert.equal(cache.get(alice, T0), 'alice');
    cache.set(mallory, 'mallory', origin(), T0);
    assert.equal(cache.get(alice, T0), undefined, 'displaced, never confused');
    assert.equal(cache.get(mallory, T0), 'mallory');
  });

  it('evicts a sixteenth at a time once full, oldest first', () => {
    const cache = new TokenCache<number>({ maxEntries: 32 });
    for (let i = 0; i < 33; i++) cache.set(`t${i}`, i, origin(), T0);
    assert.equal(cache.stats().entries, 30);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => cache.get(`t${i}`, T0)),
      [undefined, undefined, undefined, 3],
    );
  });

  it('is bounded by the characters of the tokens it holds, too', () => {
    const cache = new TokenCache<number>({ maxEntries: 100, maxChars: 10 });
    cache.set('aaaa', 1, origin(), T0);
    cache.set('bbbb', 2, origin(), T0);
    cache.set('cccc', 3, origin(), T0);
    assert.equal(cache.get('aaaa', T0), undefined);
    assert.equal(cache.get('cccc', T0), 3);
    cache.set('x'.repeat(11), 4, origin(), T0);
    assert.equal(cache.get('x'.repeat(11), T0), undefined, 'a token larger than the budget is not kept');
    assert.equal(cache.stats().entries, 2, 'and evicts nothing');
  });

  it('keeps an entry at most 60 seconds, however far away exp is', () => {
    const cache = new TokenCache<string>();
    cache.set('t', 'identity', origin('k1', T0 + HOUR), T0);
    assert.equal(cache.get('t', T0 + TOKEN_CACHE_TTL_MS - 1), 'identity');
    assert.equal(cache.get('t', T0 + TOKEN_CACHE_TTL_MS), undefined);
    assert.equal(cache.stats().entries, 0, 'the dead entry is gone, not just hidden');
  });

  it('never serves a token at or after its exp', () => {
    const cache = new TokenCache<string>();
    cache.set('t', 'identity', origin('k1', T0 + 5_000), T0);
    assert.equal(cache.get('t', T0 + 4_999), 'identity');
    assert.equal(cache.get('t', T0 + 5_000), undefined);
  });

  it('does not cache a token that is already expired (accepted within the clock skew)', () => {
    const cache = new TokenCache<string>();
    cache.set('t', 'identity', origin('k1', T0 - 1_000), T0);
    cache.set('u', 'identity', origin('k1', T0), T0);
    assert.equal(cache.stats().entries, 0);
  });

  it('drops what a removed key verified, and only that', () => {
    const cache = new TokenCache<string>();
    cache.set('by-k1', 'x', origin('k1'), T0);
    cache.set('by-k2', 'x', origin('k2'), T0);
    cache.set('other-issuer-k1', 'x', origin('k1', T0 + HOUR, 'okta'), T0);
    cache.dropKeys('ci', new Set(['k1']));
    assert.equal(cache.get('by-k1', T0), undefined);
    assert.equal(cache.get('by-k2', T0), 'x');
    assert.equal(cache.get('other-issuer-k1', T0), 'x', 'kids are per issuer');
  });

  it('drops tokens without kid whenever any key of their issuer goes', () => {
    const cache = new TokenCache<string>();
    cache.set('no-kid', 'x', origin(''), T0);
    cache.dropKeys('ci', new Set());
    assert.equal(cache.get('no-kid', T0), 'x', 'nothing removed, nothing dropped');
    cache.dropKeys('ci', new Set(['k9']));
    assert.equal(cache.get('no-kid', T0), undefined);
  });

  it('counts hits and misses', () => {
    const cache = new TokenCache<string>();
    cache.get('t', T0);
    cache.set('t', 'x', origin(), T0);
    cache.get('t', T0);
    cache.get('t', T0 + TOKEN_CACHE_TTL_MS);
    assert.deepEqual(cache.stats(), { entries: 0, hits: 1, misses: 2 });
  });

  it('with no capacity caches nothing', () => {
    const cache = new TokenCache<string>({ maxEntries: 0 });
    cache.set('t', 'x', origin(), T0);
    assert.equal(cache.get('t', T0), undefined);
  });
});
