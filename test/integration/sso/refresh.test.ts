/**
 * Access tokens are refreshed before they expire, once per session however many requests arrive
 * at once — in one process (cookie store) and across replicas (Redis store) — against an IdP
 * that rotates refresh tokens, where a second use of one ends the whole grant. A refused refresh
 * ends the session (log in again); an IdP that is down keeps a valid token working and is a 503
 * once it is not, never a login loop.
 *
 * Tokens here live 3 seconds. Time is node:test's fake `Date`, advanced by the test: the IdP
 * (oidc-provider, in this process) stamps tokens and the gateway judges them by the same clock,
 * so a token expires without waiting. (Redis's own clock decides nothing here: the gateway
 * gives it relative TTLs and the lock is released, not timed out.)
 */
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { redisUrl } from '../../support/services.ts';
import { ALICE, CookieJar, login, type SsoStack, startSsoStack } from '../../support/sso.ts';

const TTL_SECONDS = 3;
const stacks: SsoStack[] = [];
after(() => Promise.all(stacks.map((s) => s.close())));

async function stack(store: 'cookie' | 'redis', redis?: string, ttl = TTL_SECONDS): Promise<SsoStack> {
  const s = await startSsoStack({ store, redisUrl: redis, accessTokenTtlSeconds: ttl });
  stacks.push(s);
  return s;
}

/** Freezes `Date` for this test; `pass(ms)` moves it on. */
function fakeDate(t: TestContext): (ms: number) => void {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  return (ms) => t.mock.timers.tick(ms);
}

async function loggedIn(s: SsoStack): Promise<CookieJar> {
  const jar = new CookieJar();
  assert.equal((await login(s, jar, '/.stepgate/login', ALICE)).status, 302);
  return jar;
}

async function tokenIdOf(s: SsoStack, res: Response): Promise<string | undefined> {
  return (await s.gateway.auditFor(res.headers.get('x-request-id')!)).caller?.tokenId;
}

describe('refresh (cookie store)', () => {
  it('refreshes an expired access token once for many concurrent requests', async (t) => {
    const pass = fakeDate(t);
    const s = await stack('cookie');
    const jar = await loggedIn(s);
    const first = await jar.fetch(`${s.origin}/api/orders/1`);
    assert.equal(first.status, 200);
    const before = await tokenIdOf(s, first);
    const stale = jar.header(s.origin);
    pass(TTL_SECONDS * 1000 + 200);

    const responses = await Promise.all(
      Array.from({ length: 8 }, () => jar.fetch(`${s.origin}/api/orders/1`)),
    );
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.equal(s.idp.grants('refresh_token'), 1, 'one refresh for eight requests');
    assert.ok(
      responses[0]!.headers.getSetCookie().some((c) => c.startsWith('__Host-stepgate-session-0=v1.')),
    );
    assert.notEqual(await tokenIdOf(s, responses[0]!), before, 'a new access token');

    // A request still carrying the cookie from before the refresh: no second refresh (the IdP
    // rotates refresh tokens, so a second one would end the grant).
    const late = await fetch(`${s.origin}/api/orders/1`, { headers: { cookie: stale } });
    assert.equal(late.status, 200);
    assert.equal(s.idp.grants('refresh_token'), 1);
    assert.equal((await jar.fetch(`${s.origin}/api/orders/1`)).status, 200);
    assert.equal(s.idp.grants('refresh_token'), 1);
  });

  it('sends the user to log in again when the IdP refuses the refresh token', async (t) => {
    const pass = fakeDate(t);
    const s = await stack('cookie');
    const jar = await loggedIn(s);
    // The user signs out at the IdP: the refresh token ends with the IdP session.
    const page = await (await jar.fetch(`${s.idp.issuer}/session/end?client_id=stepgate`)).text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
    await jar.fetch(`${s.idp.issuer}/session/end/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }),
    });
    pass(TTL_SECONDS * 1000 + 200);
    const api = await jar.fetch(`${s.origin}/api/orders/1`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(((await api.json()) as { code: string }).code, 'SG_ERR_TOKEN_EXPIRED');
    const page2 = await fetch(`${s.origin}/api/orders/1`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(page2.status, 302);
  });

  it('keeps a valid token while the IdP is down, and answers 503 once it expired', async (t) => {
    // 6 s tokens are refreshed in their last 1.5 s; the test acts 1.2 s before expiry, then after.
    const pass = fakeDate(t);
    const s = await stack('cookie', undefined, 6);
    const jar = await loggedIn(s);
    const whoami = await jar.fetch(`${s.origin}/.stepgate/whoami`);
    const expiresAt = Date.parse(((await whoami.json()) as { tokenExpiresAt: string }).tokenExpiresAt);
    pass(expiresAt - 1200 - Date.now());
    s.idp.setDown(true);
    try {
      assert.equal((await jar.fetch(`${s.origin}/api/orders/1`)).status, 200);
      assert.ok(s.idp.grants('refresh_token') === 0);
      pass(expiresAt + 300 - Date.now());
      const page = await jar.fetch(`${s.origin}/api/orders/1`, { headers: { accept: 'text/html' } });
      assert.equal(page.status, 503, 'not a login redirect');
      assert.equal(((await page.json()) as { code: string }).code, 'SG_ERR_IDP_UNAVAILABLE');
    } finally {
      s.idp.setDown(false);
    }
    assert.equal((await jar.fetch(`${s.origin}/api/orders/1`)).status, 200, 'back once the IdP is');
    assert.equal(s.idp.grants('refresh_token'), 1);
  });
});

describe('refresh (redis store, two replicas)', () => {
  it('refreshes once across replicas', async (t) => {
    const url = redisUrl(t);
    if (!url) return;
    const pass = fakeDate(t);
    const s = await stack('redis', url);
    const replica = await s.startReplica();
    const jar = await loggedIn(s);
    assert.equal(
      (await jar.fetch(`${replica.url}/api/orders/1`)).status,
      200,
      'the replica reads the session',
    );
    pass(TTL_SECONDS * 1000 + 200);
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => jar.fetch(`${i % 2 ? replica.url : s.gateway.url}/api/orders/1`)),
    );
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.equal(s.idp.grants('refresh_token'), 1, 'one refresh for ten requests on two replicas');
  });
});

it('writes no token into logs or audit records, refreshes and outages included', () => {
  for (const s of stacks) {
    for (const text of [s.gateway.logs.text(), s.gateway.audit.text()]) {
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(text), 'a JWT was written');
    }
  }
});
