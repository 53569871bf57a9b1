/**
 * The browser login over HTTP (no browser): login → the IdP's real login and consent pages →
 * callback → a session that lands on the page asked for and calls APIs under the same policy
 * as a bearer token; whoami; the redirect (browsers) or 401 (others) without a session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EchoedRequest } from '../../../src/dev/upstream.ts';
import {
  ALICE,
  BOB,
  CookieJar,
  login,
  sessionCookies,
  type SsoStack,
  startSsoStack,
} from '../../support/sso.ts';

let stack: SsoStack;

before(async () => {
  stack = await startSsoStack({ store: 'cookie' });
});
after(() => stack.close());

describe('browser login (cookie store)', () => {
  it('lands on the page asked for, with a __Host- session cookie', async () => {
    const jar = new CookieJar();
    const start = await jar.fetch(`${stack.origin}/api/orders/42?view=full`, {
      headers: { accept: 'text/html' },
    });
    assert.equal(start.status, 302);
    assert.equal(start.headers.get('location'), '/.stepgate/login?rd=%2Fapi%2Forders%2F42%3Fview%3Dfull');
    const landed = await login(stack, jar, start.headers.get('location')!);
    assert.equal(landed.status, 302);
    assert.equal(landed.headers.get('location'), `${stack.origin}/api/orders/42?view=full`);
    const cookies = landed.headers.getSetCookie().filter((c) => c.startsWith('__Host-stepgate-session'));
    assert.ok(cookies.length >= 1);
    for (const cookie of cookies) {
      assert.match(cookie, /; Path=\/; Max-Age=\d+; Secure; HttpOnly; SameSite=Lax$/);
      assert.ok(cookie.length < 4096, 'each chunk stays under 4 KB');
    }
    const res = await jar.fetch(landed.headers.get('location')!, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 200);
    const echoed = (await res.json()) as EchoedRequest;
    assert.equal(echoed.headers['x-stepgate-subject'], 'alice');
    assert.equal(echoed.headers['x-stepgate-email'], 'alice@example.com');
    assert.equal(echoed.url, '/orders/42?view=full');
    assert.ok(jar.header(stack.origin).includes('__Host-stepgate-session'));
    assert.ok(
      !String(echoed.headers['cookie'] ?? '').includes('__Host-stepgate'),
      'session cookies never reach the upstream',
    );
    const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.caller?.authMethod, 'session');
    assert.equal(record.caller?.sub, 'alice');
    assert.equal(record.decision, 'allow');
  });

  it('puts session identities through the route policy', async () => {
    const jar = new CookieJar();
    await login(stack, jar, '/.stepgate/login', BOB);
    const read = await jar.fetch(`${stack.origin}/api/orders/1`);
    assert.equal(read.status, 200);
    const write = await jar.fetch(`${stack.origin}/api/orders/1`, {
      method: 'POST',
      headers: { origin: stack.origin },
    });
    assert.equal(write.status, 403);
    assert.equal(((await write.json()) as { code: string }).code, 'SG_ERR_INSUFFICIENT_SCOPE');
    assert.equal((await jar.fetch(`${stack.origin}/api/support`)).status, 200);
  });

  it('answers whoami with the identity, and no token', async () => {
    const jar = new CookieJar();
    await login(stack, jar, '/.stepgate/login', ALICE);
    const res = await jar.fetch(`${stack.origin}/.stepgate/whoami`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.equal(body['caller'], 'keycloak/alice');
    assert.equal(body['authMethod'], 'session');
    assert.deepEqual(body['groups'], ['engineering', 'oncall']);
    assert.deepEqual(body['scopes'], ['orders:read', 'orders:write']);
    assert.deepEqual(body['roles'], ['developer']);
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(text), 'no JWT in whoami');
  });

  it('redirects browsers without a session to log in, and gives others a 401', async () => {
    const browser = await fetch(`${stack.origin}/api/orders/1`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(browser.status, 302);
    const api = await fetch(`${stack.origin}/api/orders/1`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(api.headers.get('www-authenticate'), 'Bearer realm="stepgate"');
    const post = await fetch(`${stack.origin}/api/orders/1`, {
      method: 'POST',
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(post.status, 401, 'only page loads are redirected');
  });

  it('keeps bearer tokens working on session routes, and sessions off bearer-only routes', async () => {
    const token = await stack.idp.getToken({ clientId: 'ci-bot' });
    const res = await fetch(`${stack.origin}/api/orders/7`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    const jar = new CookieJar();
    await login(stack, jar, '/.stepgate/login');
    assert.equal(sessionCookies(jar, stack.origin).size > 0, true);
    const machines = await jar.fetch(`${stack.origin}/api/machines`);
    assert.equal(machines.status, 401);
  });

  it('keeps at most three logins in progress per browser', async () => {
    const jar = new CookieJar();
    const host = new URL(stack.origin).hostname;
    for (let i = 0; i < 6; i++) {
      assert.equal(
        (await jar.fetch(`${stack.origin}/.stepgate/login?rd=%2Fapi%2Forders%2F${i}`)).status,
        302,
      );
    }
    const logins = [...jar.all(host).keys()].filter((n) => n.startsWith('__Host-stepgate-login-'));
    assert.equal(logins.length, 3);
  });

  it('answers 503 when the IdP cannot be discovered at login, not a redirect', async () => {
    const fresh = await startSsoStack({ store: 'cookie' });
    fresh.idp.setDown(true);
    try {
      const res = await fetch(`${fresh.origin}/.stepgate/login`, { redirect: 'manual' });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { code: string }).code, 'SG_ERR_IDP_UNAVAILABLE');
      fresh.idp.setDown(false);
      const again = await fetch(`${fresh.origin}/.stepgate/login`, { redirect: 'manual' });
      assert.equal(again.status, 302, 'discovery is tried again');
    } finally {
      await fresh.close();
    }
  });
});
