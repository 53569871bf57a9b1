/** The in-memory rate-limit store: fixed windows, and a bound on the keys it keeps. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryRateLimitStore } from '../../src/ratelimit/store.ts';

describe('the in-memory rate-limit store', () => {
  it('counts within a window and starts a new one when it ends', async () => {
    let now = 1_000;
    const store = createMemoryRateLimitStore({ now: () => now });
    assert.deepEqual(await store.hit('a', 1000), { count: 1, resetInMs: 1000 });
    now += 400;
    assert.deepEqual(await store.hit('a', 1000), { count: 2, resetInMs: 600 });
    assert.deepEqual(await store.hit('b', 1000), { count: 1, resetInMs: 1000 });
    now += 600;
    assert.deepEqual(await store.hit('a', 1000), { count: 1, resetInMs: 1000 });
  });

  it('keeps at most maxKeys windows, dropping the oldest when none has ended', async () => {
    const now = 0;
    const store = createMemoryRateLimitStore({ maxKeys: 2, now: () => now });
    await store.hit('first', 60_000);
    await store.hit('second', 60_000);
    await store.hit('second', 60_000);
    await store.hit('third', 60_000);
    assert.equal((await store.hit('second', 60_000)).count, 3, 'a live window is kept');
    assert.equal((await store.hit('first', 60_000)).count, 1, 'the oldest window was dropped');
  });
});
