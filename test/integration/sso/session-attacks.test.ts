/**
 * Attacks on the session cookie (cookie store): tampered, truncated, re-keyed or moved cookies
 * are no session (a login redirect for a page load, a 401 otherwise, and the cookie deleted);
 * session fixation; CSRF on unsafe methods; an upstream that tries to set the session cookie.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chunkCount, readChunked } from '../../../src/identity/sessions/cookies.ts';
import { createSealer, deriveKey } from '../../../src/identity/sessions/seal.ts';
import {
  ALICE,
  CAROL,
  COOKIE_SECRET,
  CookieJar,
  login,
  sessionCookies,
  type SsoStack,
  startSsoStack,
} from '../../support/sso.ts';

let stack: SsoStack;
let host: string;
const SESSION = '__Host-stepgate-session';
const sessionSealer = createSealer(deriveKey(COOKIE_SECRET, 'session cookie v1'));

before(async () => {
  stack = await startSsoStack({ store: 'cookie' });
  host = new URL(stack.origin).hostname;
});
after(() => stack.close());

async function loggedIn(): Promise<CookieJar> {
  const jar = new CookieJar();
  const res = await login(stack, jar, '/.stepgate/login', ALICE);
  assert.equal(res.status, 302);
  return jar;
}

/** The session id inside a jar's (cookie-store) session cookie. */
function sessionId(jar: CookieJar): string {
  const sealed = readChunked(sessionCookies(jar, stack.origin), SESSION)!;
  return (sessionSealer.open(sealed, SESSION) as { id: string }).id;
}

/** A page load and an API call with the jar; both must be refused as "no session". */
async function assertNoSession(jar: CookieJar, why: string): Promise<void> {
  const api = await jar.fetch(`${stack.origin}/api/orders/1`, { headers: { accept: 'application/json' } });
  assert.equal(api.status, 401, why);
  assert.ok(
    api.headers.getSetCookie().some((c) => c.startsWith(`${SESSION}-0=;`) && c.includes('Max-Age=0')),
    `${why}: the bad cookie is deleted`,
  );
  assert.equal(stack.upstream.received.length, upstreamBefore, `${why}: nothing forwarded`);
}

let upstreamBefore = 0;

describe('tampered cookies', () => {
  it('refuses a cookie with one character changed, anywhere', async () => {
    const jar = await loggedIn();
    const original = jar.get(host, `${SESSION}-0`)!;
    upstreamBefore = stack.upstream.received.length;
    for (const at of [3, Math.floor(original.length / 2), original.length - 2]) {
      const flipped = original.slice(0, at) + (original[at] === 'A' ? 'B' : 'A') + original.slice(at + 1);
      jar.set(host, `${SESSION}-0`, flipped);
      await assertNoSession(jar, `changed at ${at}`);
    }
  });

  it('refuses a truncated cookie and a missing chunk', async () => {
    const jar = new CookieJar();
    await login(stack, jar, '/.stepgate/login', CAROL);
    const cookies = sessionCookies(jar, stack.origin);
    const n = chunkCount(cookies, SESSION);
    assert.ok(n > 1, `a large session is chunked (${n} chunk)`);
    for (const value of cookies.values()) assert.ok(value.length <= 3800);
    assert.equal((await jar.fetch(`${stack.origin}/api/orders/1`)).status, 200, 'chunks reassemble');
    upstreamBefore = stack.upstream.received.length;
    const last = `${SESSION}-${n - 1}`;
    jar.set(host, last, cookies.get(last)!.slice(0, -10));
    await assertNoSession(jar, 'truncated');
    const again = new CookieJar();
    await login(stack, again, '/.stepgate/login', CAROL);
    again.delete(host, last);
    await assertNoSession(again, 'a chunk missing');
  });

  it('refuses a cookie sealed with another secret, or moved from the login cookie', async () => {
    const jar = await loggedIn();
    const record = sessionSealer.open(readChunked(sessionCookies(jar, stack.origin), SESSION)!, SESSION);
    upstreamBefore = stack.upstream.received.length;
    const other = createSealer(deriveKey('another-secret-of-at-least-32-bytes!!', 'session cookie v1'));
    jar.set(host, `${SESSION}-0`, other.seal(record, SESSION));
    for (let i = 1; i < 5; i++) jar.delete(host, `${SESSION}-${i}`);
    await assertNoSession(jar, 'other secret');
    // Same key, other purpose label (aad): a value sealed for another cookie does not open here.
    jar.set(host, `${SESSION}-0`, sessionSealer.seal(record, '__Host-stepgate-login-x'));
    await assertNoSession(jar, 'moved');
  });

  it('sends a browser with a bad cookie to log in, not into a loop of errors', async () => {
    const jar = await loggedIn();
    jar.set(host, `${SESSION}-0`, 'v1.garbage');
    const res = await jar.fetch(`${stack.origin}/api/orders/1`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 302);
    assert.match(res.headers.get('location')!, /^\/\.stepgate\/login\?rd=/);
  });
});

describe('session fixation', () => {
  it('gives every login a new session id, whatever cookie the browser brought', async () => {
    const jar = await loggedIn();
    const first = sessionId(jar);
    await login(stack, jar, '/.stepgate/login', ALICE);
    const second = sessionId(jar);
    assert.notEqual(first, second);
    assert.match(second, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
  });

  it('replaces a planted cookie at login', async () => {
    const jar = new CookieJar();
    jar.set(host, `${SESSION}-0`, 'v1.planted-by-an-attacker');
    const res = await login(stack, jar, '/.stepgate/login', ALICE);
    assert.equal(res.status, 302);
    assert.notEqual(jar.get(host, `${SESSION}-0`), 'v1.planted-by-an-attacker');
    assert.equal((await jar.fetch(`${stack.origin}/api/orders/1`)).status, 200);
  });
});

describe('CSRF', () => {
  it('refuses unsafe methods with a session cookie and no or another Origin', async () => {
    const jar = await loggedIn();
    const before = stack.upstream.received.length;
    for (const origin of [undefined, 'https://evil.example', 'null', `${stack.origin}.evil.example`]) {
      const res = await jar.fetch(`${stack.origin}/api/orders/1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
        body: '{}',
      });
      assert.equal(res.status, 403, `Origin ${origin}`);
      const body = (await res.json()) as { code: string };
      assert.equal(body.code, 'SG_ERR_CSRF');
      const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
      assert.equal(record.reason, 'csrf');
    }
    assert.equal(stack.upstream.received.length, before, 'nothing forwarded');
    const same = await jar.fetch(`${stack.origin}/api/orders/1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.origin },
      body: '{}',
    });
    assert.equal(same.status, 200);
  });

  it('does not ask bearer callers for an Origin', async () => {
    const token = await stack.idp.getToken({ clientId: 'ci-bot' });
    const res = await fetch(`${stack.origin}/api/orders/1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
  });

  it('refuses a cross-site logout', async () => {
    const jar = await loggedIn();
    const res = await jar.fetch(`${stack.origin}/.stepgate/logout`, {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(res.status, 403);
    assert.equal((await jar.fetch(`${stack.origin}/api/orders/1`)).status, 200, 'still logged in');
  });
});
