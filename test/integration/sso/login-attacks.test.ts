/**
 * Attacks on the login: open redirects through `rd` (login and logout), and callbacks whose
 * `state`, `nonce`, PKCE verifier, `iss` or code were tampered with or replayed. Every refused
 * callback is a 400 `SG_ERR_LOGIN_FAILED` (or `SG_ERR_BAD_REQUEST`) and leaves no session.
 *
 * The test knows the cookie secret, so it can open and re-seal the login cookie: that stands for
 * an attacker who controls everything but the secret — and shows each check holds on its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loginCookieName } from '../../../src/identity/sessions/login-state.ts';
import { createSealer, deriveKey } from '../../../src/identity/sessions/seal.ts';
import {
  ALICE,
  BOB,
  COOKIE_SECRET,
  CookieJar,
  loginUntilCallback,
  sessionCookies,
  type SsoStack,
  startSsoStack,
} from '../../support/sso.ts';

let stack: SsoStack;
const loginSealer = createSealer(deriveKey(COOKIE_SECRET, 'login cookie v1'));

before(async () => {
  stack = await startSsoStack({ store: 'cookie' });
});
after(() => stack.close());

async function problem(res: Response): Promise<{ code: string; detail: string }> {
  return (await res.json()) as { code: string; detail: string };
}

/** Rewrites the login cookie of `state` in the jar. */
function tamperLogin(jar: CookieJar, state: string, change: (login: Record<string, unknown>) => void): void {
  const host = new URL(stack.origin).hostname;
  const name = loginCookieName(state);
  const login = loginSealer.open(jar.get(host, name)!, name) as Record<string, unknown>;
  change(login);
  jar.set(host, name, loginSealer.seal(login, name));
}

async function refusedCallback(jar: CookieJar, url: string, code = 'SG_ERR_LOGIN_FAILED'): Promise<string> {
  const res = await jar.fetch(url);
  assert.equal(res.status, 400);
  const body = await problem(res);
  assert.equal(body.code, code);
  assert.equal(sessionCookies(jar, stack.origin).size, 0, 'no session after a refused callback');
  return body.detail;
}

describe('open redirects', () => {
  const vectors = [
    'https://evil.example/',
    '//evil.example/',
    '///evil.example/',
    '/\\evil.example/',
    '\\\\evil.example/',
    '/\t/evil.example/',
    '/\n/evil.example/',
    'javascript:alert(1)',
    'http:/evil.example',
    'evil.example',
    '/%0d%0aSet-Cookie:%20x=1',
  ];

  for (const rd of vectors) {
    it(`refuses rd=${JSON.stringify(rd)} at login and logout`, async () => {
      const q = `rd=${encodeURIComponent(rd)}`;
      const loginRes = await fetch(`${stack.origin}/.stepgate/login?${q}`, { redirect: 'manual' });
      if (loginRes.status === 302) {
        // Only a same-origin path may pass: '/%0d%0a…' is one (encoded, it is just a path).
        assert.equal(rd, '/%0d%0aSet-Cookie:%20x=1');
      } else {
        assert.equal(loginRes.status, 400);
        assert.equal((await problem(loginRes)).code, 'SG_ERR_BAD_REQUEST');
      }
      const logout = await fetch(`${stack.origin}/.stepgate/logout?${q}`, {
        method: 'POST',
        headers: { origin: stack.origin },
        redirect: 'manual',
      });
      const location = logout.headers.get('location') ?? '';
      assert.ok(
        logout.status === 400 || location.startsWith(`${stack.origin}/`),
        `logout went to ${location}`,
      );
      const page = await fetch(`${stack.origin}/.stepgate/logged-out?state=${encodeURIComponent(rd)}`);
      assert.ok(!(await page.text()).includes('evil.example'));
    });
  }

  it('refuses dot segments that parse to //host', async () => {
    const res = await fetch(`${stack.origin}/.stepgate/login?rd=%2Fapi%2F..%2F%2Fevil.example%2F`, {
      redirect: 'manual',
    });
    assert.equal(res.status, 400);
  });

  it('returns after login to an absolute URL on the gateway', async () => {
    const jar = new CookieJar();
    const landed = await jar.fetch(
      await loginUntilCallback(stack, jar, '/.stepgate/login?rd=%2Fapi%2Forders%2F1%23top', ALICE),
    );
    assert.equal(landed.status, 302);
    assert.equal(landed.headers.get('location'), `${stack.origin}/api/orders/1#top`);
  });
});

describe('callback tampering and replay', () => {
  it('refuses a tampered state', async () => {
    const jar = new CookieJar();
    const url = new URL(await loginUntilCallback(stack, jar, '/.stepgate/login', ALICE));
    url.searchParams.set('state', `${url.searchParams.get('state')}x`);
    assert.match(await refusedCallback(jar, url.href), /no login in progress/);
  });

  it('refuses a callback in a browser that did not start the login (login CSRF)', async () => {
    const attacker = new CookieJar();
    const url = await loginUntilCallback(stack, attacker, '/.stepgate/login', BOB);
    const victim = new CookieJar();
    assert.match(await refusedCallback(victim, url), /no login in progress/);
  });

  it('refuses a replayed callback, even with a copy of the login cookie', async () => {
    const jar = new CookieJar();
    const url = await loginUntilCallback(stack, jar, '/.stepgate/login', ALICE);
    const state = new URL(url).searchParams.get('state')!;
    const host = new URL(stack.origin).hostname;
    const copied = jar.get(host, loginCookieName(state))!;
    const first = await jar.fetch(url);
    assert.equal(first.status, 302);
    const replay = new CookieJar();
    replay.set(host, loginCookieName(state), copied);
    assert.match(await refusedCallback(replay, url), /used already/);
  });

  it('refuses an ID token whose nonce is not the login’s', async () => {
    const jar = new CookieJar();
    const url = await loginUntilCallback(stack, jar, '/.stepgate/login', ALICE);
    tamperLogin(jar, new URL(url).searchParams.get('state')!, (login) => {
      login['nonce'] = 'a-nonce-of-the-attackers-choosing';
    });
    assert.match(await refusedCallback(jar, url), /nonce/);
  });

  it('refuses a code exchanged with another PKCE verifier', async () => {
    const jar = new CookieJar();
    const url = await loginUntilCallback(stack, jar, '/.stepgate/login', ALICE);
    tamperLogin(jar, new URL(url).searchParams.get('state')!, (login) => {
      login['codeVerifier'] = 'x'.repeat(64);
    });
    assert.match(await refusedCallback(jar, url), /invalid_grant/);
  });

  it('refuses an injected code (the attacker’s code, the victim’s state)', async () => {
    const victim = new CookieJar();
    const victimUrl = new URL(await loginUntilCallback(stack, victim, '/.stepgate/login', ALICE));
    const attackerUrl = new URL(await loginUntilCallback(stack, new CookieJar(), '/.stepgate/login', BOB));
    victimUrl.searchParams.set('code', attackerUrl.searchParams.get('code')!);
    assert.match(await refusedCallback(victim, victimUrl.href), /invalid_grant/);
  });

  it('refuses a response from another issuer (RFC 9207 iss) or without one', async () => {
    for (const iss of ['https://evil.example/realms/platform', undefined]) {
      const jar = new CookieJar();
      const url = new URL(await loginUntilCallback(stack, jar, '/.stepgate/login', ALICE));
      if (iss) url.searchParams.set('iss', iss);
      else url.searchParams.delete('iss');
      assert.match(await refusedCallback(jar, url.href), /iss/);
    }
  });

  it('refuses a callback without state, and an IdP error response', async () => {
    assert.match(
      await refusedCallback(new CookieJar(), `${stack.origin}/.stepgate/callback?code=abc`),
      /no state/,
    );
    const jar = new CookieJar();
    const url = new URL(await loginUntilCallback(stack, jar, '/.stepgate/login', ALICE));
    url.searchParams.delete('code');
    url.searchParams.set('error', 'access_denied');
    assert.match(await refusedCallback(jar, url.href), /access_denied/);
  });

  it('audits a refused login as login_failed', async () => {
    const res = await fetch(`${stack.origin}/.stepgate/callback?state=nope&code=x`);
    const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.decision, 'deny');
    assert.equal(record.reason, 'login_failed');
    assert.equal(record.http.route, 'sso-callback');
  });
});
