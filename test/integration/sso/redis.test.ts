/**
 * `store: redis`: the cookie is a handle, Redis holds only sealed records; logout and a new
 * login end sessions server-side (a copied cookie stops working); OIDC back-channel logout from
 * the IdP ends every session of an IdP session (`sid`) or of a user (`sub`), and refuses logout
 * tokens that are not exactly that (typ, events, nonce, aud, signature, replayed jti).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../../src/identity/logout-token.ts';
import { createSigningKey, signToken } from '../../support/issuer.ts';
import { redisUrl } from '../../support/services.ts';
import {
  ALICE,
  BOB,
  CookieJar,
  login,
  sessionCookies,
  type SsoStack,
  startSsoStack,
} from '../../support/sso.ts';

let stack: SsoStack | undefined;
let redis: Redis;

before(async () => {
  const url = process.env['STEPGATE_TEST_REDIS_URL'];
  if (!url) return;
  stack = await startSsoStack({ store: 'redis', redisUrl: url });
  redis = new Redis(url);
});
after(async () => {
  await stack?.close();
  redis?.disconnect();
});

/** The stack, or a skip (outside CI) when there is no Redis. */
function need(t: TestContext): SsoStack | undefined {
  return redisUrl(t) ? stack : undefined;
}

async function loggedIn(
  s: SsoStack,
  user: { username: string; password: string } = ALICE,
): Promise<CookieJar> {
  const jar = new CookieJar();
  assert.equal((await login(s, jar, '/.stepgate/login', user)).status, 302);
  return jar;
}

const ordersStatus = async (s: SsoStack, jar: CookieJar) =>
  (await jar.fetch(`${s.origin}/api/orders/1`, { headers: { accept: 'application/json' } })).status;

/** A copy of the jar's session cookies in a new jar (an attacker's copy). */
function copyOf(s: SsoStack, jar: CookieJar): CookieJar {
  const copy = new CookieJar();
  const host = new URL(s.origin).hostname;
  for (const [name, value] of sessionCookies(jar, s.origin)) copy.set(host, name, value);
  return copy;
}

describe('redis session store', () => {
  it('keeps a small handle in the cookie and only sealed records in Redis', async (t) => {
    const s = need(t);
    if (!s) return;
    const jar = await loggedIn(s);
    const cookies = sessionCookies(jar, s.origin);
    assert.equal(cookies.size, 1);
    assert.ok([...cookies.values()][0]!.length < 400);
    assert.equal(await ordersStatus(s, jar), 200);
    const keys = await redis.keys(`${s.redisPrefix}*`);
    assert.ok(keys.some((k) => k.startsWith(`${s.redisPrefix}session:`)));
    for (const key of keys.filter((k) => k.includes(':session:'))) {
      const value = (await redis.get(key)) ?? '';
      // A JWT at rest would read as `eyJ….eyJ….`; ciphertext may hold "eyJ" alone by chance.
      assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\./.test(value) && !value.includes('alice'), 'no readable token or subject at rest');
    }
  });

  it('ends the session everywhere at logout: a copied cookie stops working', async (t) => {
    const s = need(t);
    if (!s) return;
    const jar = await loggedIn(s);
    const copy = copyOf(s, jar);
    const res = await jar.fetch(`${s.origin}/.stepgate/logout`, {
      method: 'POST',
      headers: { origin: s.origin },
    });
    assert.equal(res.status, 303);
    const idpLogout = new URL(res.headers.get('location')!);
    assert.equal(idpLogout.origin + idpLogout.pathname, `${s.idp.issuer}/session/end`);
    assert.ok(idpLogout.searchParams.get('id_token_hint'));
    assert.equal(idpLogout.searchParams.get('post_logout_redirect_uri'), `${s.origin}/.stepgate/logged-out`);
    assert.equal(await ordersStatus(s, copy), 401);
  });

  it('ends the previous session at a new login (fixation)', async (t) => {
    const s = need(t);
    if (!s) return;
    const jar = await loggedIn(s);
    const before = copyOf(s, jar);
    await login(s, jar, '/.stepgate/login', ALICE);
    assert.equal(await ordersStatus(s, jar), 200);
    assert.equal(await ordersStatus(s, before), 401);
  });
});

describe('back-channel logout', () => {
  /** A logout token from the IdP's own key, as oidc-provider makes them. */
  const logoutToken = (
    s: SsoStack,
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
  ) =>
    s.idp.signWithIdpKey(
      { aud: 'stepgate', sub: 'alice', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...claims },
      { typ: 'logout+jwt', ...header },
    );

  const post = (s: SsoStack, token: string) =>
    fetch(`${s.origin}/.stepgate/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: token }),
    });

  it('ends the IdP session’s sessions when the user logs out at the IdP', async (t) => {
    const s = need(t);
    if (!s) return;
    const jar = await loggedIn(s);
    const other = await loggedIn(s, BOB);
    // The user signs out at the IdP directly (another application's logout, say).
    const page = await jar.fetch(`${s.idp.issuer}/session/end?client_id=stepgate`);
    const html = await page.text();
    const action = /action="([^"]+)"/.exec(html)![1]!;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const confirm = await jar.fetch(new URL(action, s.idp.issuer).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }),
    });
    assert.ok(confirm.status < 400);
    assert.equal(await ordersStatus(s, jar), 401, 'ended by the back-channel call');
    assert.equal(await ordersStatus(s, other), 200, 'another user’s session lives on');
  });

  it('ends every session of a subject for a token with only sub', async (t) => {
    const s = need(t);
    if (!s) return;
    const [a1, a2, b] = [await loggedIn(s), await loggedIn(s), await loggedIn(s, BOB)];
    const res = await post(s, await logoutToken(s));
    assert.equal(res.status, 200);
    assert.equal(await ordersStatus(s, a1), 401);
    assert.equal(await ordersStatus(s, a2), 401);
    assert.equal(await ordersStatus(s, b), 200);
  });

  it('accepts a logout token typed JWT that carries the logout event and no nonce (as Keycloak may send)', async (t) => {
    const s = need(t);
    if (!s) return;
    const [alice, bob] = [await loggedIn(s), await loggedIn(s, BOB)];
    const res = await post(s, await logoutToken(s, {}, { typ: 'JWT' }));
    assert.equal(res.status, 200);
    assert.equal(await ordersStatus(s, alice), 401);
    assert.equal(await ordersStatus(s, bob), 200);
  });

  it('refuses a replayed logout token', async (t) => {
    const s = need(t);
    if (!s) return;
    const token = await logoutToken(s, { sub: 'nobody' });
    assert.equal((await post(s, token)).status, 200);
    const replay = await post(s, token);
    assert.equal(replay.status, 400);
    assert.match(((await replay.json()) as { detail: string }).detail, /jti/);
  });

  const refused: [string, (s: SsoStack) => Promise<string>, RegExp][] = [
    ['typ at+jwt (an access token)', (s) => logoutToken(s, {}, { typ: 'at+jwt' }), /typ/],
    ['no typ', (s) => logoutToken(s, {}, { typ: undefined }), /typ/],
    [
      'typ JWT, a nonce and no event (an ID token)',
      (s) => logoutToken(s, { nonce: 'n', events: undefined }, { typ: 'JWT' }),
      /event|nonce/,
    ],
    ['no events', (s) => logoutToken(s, { events: undefined }), /event/],
    [
      'an event that is not an object',
      (s) => logoutToken(s, { events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } }),
      /event/,
    ],
    ['a nonce', (s) => logoutToken(s, { nonce: 'n' }), /nonce/],
    ['another audience', (s) => logoutToken(s, { aud: 'another-client' }), /aud/],
    ['no jti', (s) => logoutToken(s, { jti: undefined }), /jti/],
    ['neither sid nor sub', (s) => logoutToken(s, { sub: undefined }), /sid nor sub/],
    ['expired', (s) => logoutToken(s, { exp: Math.floor(Date.now() / 1000) - 120 }), /expired/],
    [
      'another key',
      async (s) => {
        const key = await createSigningKey('RS256');
        return signToken(
          key,
          s.idp.issuer,
          { aud: 'stepgate', sub: 'alice', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } },
          { typ: 'logout+jwt', kid: s.idp.key.kid },
        );
      },
      /signature/,
    ],
  ];
  for (const [what, make, why] of refused) {
    it(`refuses a logout token with ${what}`, async (t) => {
      const s = need(t);
      if (!s) return;
      const jar = await loggedIn(s);
      const res = await post(s, await make(s));
      assert.equal(res.status, 400);
      const body = (await res.json()) as { code: string; detail: string };
      assert.equal(body.code, 'SG_ERR_BAD_REQUEST');
      assert.match(body.detail, why);
      assert.equal(await ordersStatus(s, jar), 200, 'no session ended');
    });
  }

  it('refuses anything but a form with logout_token', async (t) => {
    const s = need(t);
    if (!s) return;
    const res = await fetch(`${s.origin}/.stepgate/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ logout_token: await logoutToken(s) }),
    });
    assert.equal(res.status, 400);
  });
});
