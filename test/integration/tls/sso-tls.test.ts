/**
 * Browser SSO over HTTPS and HTTP/2: the login's and the session's `__Host-` cookies (Secure,
 * Path=/, no Domain: RFC 6265bis §4.1.3.2) are set over HTTP/2 — several `Set-Cookie` fields on
 * one response — and a session sent back over HTTP/2 reaches the upstream as an identity, its
 * cookies never.
 */
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIdp, type TestIdp } from '../../support/idp.ts';
import { ALICE, COOKIE_SECRET, CookieJar, freePort, loginUntilCallback, SSO_CLIENT, USERS } from '../../support/sso.ts';
import { createTestPki, type TestPki } from '../../support/tls.ts';

let pki: TestPki;
let idp: TestIdp;
let upstream: EchoUpstream;
let gateway: TestGateway;
let origin: string;
let session: ClientHttp2Session;

before(async () => {
  pki = createTestPki();
  const pair = pki.issue('gateway');
  const port = await freePort();
  origin = `https://127.0.0.1:${port}`;
  [idp, upstream] = await Promise.all([
    startIdp({
      preset: 'keycloak',
      users: USERS,
      clients: [{ ...SSO_CLIENT, scope: 'orders:read orders:write', redirectUris: [`${origin}/.stepgate/callback`] }],
    }),
    startEchoUpstream(),
  ]);
  gateway = await startGateway({
    server: { port, publicUrl: origin, tls: { certFile: pair.certFile, keyFile: pair.keyFile } },
    issuers: [{ name: 'keycloak', issuer: idp.issuer, audiences: ['stepgate'], preset: 'keycloak' }],
    sso: { issuer: 'keycloak', ...SSO_CLIENT, scopes: ['openid', 'orders:read'], cookieSecret: COOKIE_SECRET },
    targets: { orders: { type: 'http', url: upstream.url, stripPrefix: '/api' } },
    routes: [{ name: 'orders', path: '/api/orders/*', target: 'orders', auth: ['session'], allow: { scopes: ['orders:read'] } }],
  });
  await waitReady(gateway);
  session = await new Promise((resolve, reject) => {
    const s = connect(origin, { ca: pki.ca }, () => resolve(s));
    s.on('error', reject);
  });
});

after(async () => {
  session.close();
  await gateway.close();
  await Promise.all([idp.close(), upstream.close()]);
  pki.remove();
});

/** A GET over the HTTP/2 session with the jar's cookies; what it sets goes into the jar. */
function get(jar: CookieJar, path: string, headers: OutgoingHttpHeaders = {}) {
  return new Promise<{ status: number; location: string; setCookie: string[]; body: string }>((resolve, reject) => {
    const cookie = jar.header(origin);
    const stream = session.request({ ':path': path, accept: 'text/html', ...(cookie ? { cookie } : {}), ...headers });
    let body = '';
    let status = 0;
    let location = '';
    let setCookie: string[] = [];
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      status = Number(h[':status']);
      location = String(h.location ?? '');
      setCookie = (h['set-cookie'] as string[] | undefined) ?? [];
      jar.store(`${origin}${path}`, new Response(null, { headers: setCookie.map((c) => ['set-cookie', c] as [string, string]) }));
    });
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve({ status, location, setCookie, body }));
    stream.on('error', reject);
  });
}

describe('browser SSO on an HTTPS listener, over HTTP/2', () => {
  it('logs in with __Host- cookies set over HTTP/2 and sends the session as an identity', async () => {
    const jar = new CookieJar();
    const start = await get(jar, '/.stepgate/login?rd=/api/orders/42');
    assert.equal(start.status, 302);
    assert.ok(start.location.startsWith(idp.issuer), start.location);
    const [login] = start.setCookie.filter((c) => c.startsWith('__Host-stepgate-login-'));
    assert.match(login ?? '', /; Path=\/; Max-Age=\d+; Secure; HttpOnly; SameSite=Lax$/);

    const callback = await loginUntilCallback({ origin }, jar, start.location, ALICE);
    const landed = await get(jar, callback.slice(origin.length));
    assert.equal(landed.status, 302, landed.body);
    assert.equal(landed.location, `${origin}/api/orders/42`);
    const sessionCookies = landed.setCookie.filter((c) => c.startsWith('__Host-stepgate-session'));
    assert.ok(sessionCookies.length >= 1);
    for (const cookie of sessionCookies) assert.match(cookie, /; Path=\/; Max-Age=\d+; Secure; HttpOnly; SameSite=Lax$/);

    const res = await get(jar, '/api/orders/42');
    assert.equal(res.status, 200, res.body);
    const echoed = JSON.parse(res.body) as { headers: Record<string, string>; url: string };
    assert.equal(echoed.headers['x-stepgate-subject'], 'alice');
    assert.equal(echoed.headers['x-forwarded-proto'], 'https');
    assert.equal(echoed.url, '/orders/42');
    assert.ok(!String(echoed.headers['cookie'] ?? '').includes('__Host-stepgate'), 'session cookies never go upstream');
  });
});
