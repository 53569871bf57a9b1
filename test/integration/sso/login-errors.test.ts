/**
 * What a browser login that cannot work tells the person and the operator: a failed login is an
 * HTML page for a browser (the problem document for anything else), and a configured issuer that
 * differs from the discovery document's only by a trailing slash is refused before anyone is sent
 * to log in, naming the difference. oidc-provider stands in where Keycloak cannot misbehave so
 * (its issuers never end in a slash).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from '../../support/gateway.ts';
import { startIdp, type TestIdp } from '../../support/idp.ts';
import { COOKIE_SECRET, SSO_CLIENT, type SsoStack, startSsoStack } from '../../support/sso.ts';

describe('a failed browser login', () => {
  let stack: SsoStack;
  before(async () => {
    stack = await startSsoStack({ store: 'cookie' });
  });
  after(() => stack.close());

  it('shows a browser an HTML page with the code and request id', async () => {
    const res = await fetch(`${stack.origin}/.stepgate/callback?state=forged&code=x`, {
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await res.text();
    const requestId = res.headers.get('x-request-id')!;
    assert.match(html, /<h1>Sign-in failed<\/h1>/);
    assert.ok(html.includes('SG_ERR_LOGIN_FAILED'));
    assert.ok(html.includes(requestId));
    assert.ok(html.includes('href="/.stepgate/login"'), 'a way to try again');
    const record = await stack.gateway.auditFor(requestId);
    assert.equal(record.reason, 'login_failed');
    assert.equal(record.status, 400);
  });

  it('gives anything else the problem document', async () => {
    const res = await fetch(`${stack.origin}/.stepgate/callback?state=forged&code=x`, {
      headers: { accept: 'application/json' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(((await res.json()) as { code: string }).code, 'SG_ERR_LOGIN_FAILED');
  });
});

describe('an sso issuer that differs from its discovery document by a trailing slash', () => {
  let idp: TestIdp;
  let gateway: TestGateway;
  before(async () => {
    // The IdP's issuer is its origin with a slash, `http://127.0.0.1:PORT/`; the config omits it.
    idp = await startIdp({ preset: 'keycloak', path: '/' });
    const configured = idp.issuer.replace(/\/$/, '');
    gateway = await startGateway({
      server: { publicUrl: 'http://127.0.0.1:1' },
      issuers: [{ name: 'idp', issuer: configured, audiences: ['stepgate'] }],
      sso: { issuer: 'idp', ...SSO_CLIENT, cookieSecret: COOKIE_SECRET },
      targets: { app: { type: 'http', url: 'http://127.0.0.1:1' } },
      routes: [{ name: 'app', path: '/*', target: 'app', auth: ['session'], allow: { scopes: ['x'] } }],
    });
  });
  after(async () => {
    await gateway.close();
    await idp.close();
  });

  it('is refused at the login, before the user is sent to the IdP, naming the slash', async () => {
    const res = await fetch(`${gateway.url}/.stepgate/login?rd=/`, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
    });
    assert.equal(res.status, 503);
    const problem = (await res.json()) as { code: string; detail: string };
    assert.equal(problem.code, 'SG_ERR_IDP_UNAVAILABLE');
    assert.match(problem.detail, /differ only by a trailing slash/);
    assert.ok(problem.detail.includes(idp.issuer), 'names the issuer to configure');
    assert.match(gateway.logs.text(), /"issuer":"idp".*"cause":"issuer_mismatch".*trailing slash/);
  });

  it('shows a browser the same as a page', async () => {
    const res = await fetch(`${gateway.url}/.stepgate/login?rd=/`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(res.status, 503);
    const html = await res.text();
    assert.match(html, /<h1>Sign-in is unavailable<\/h1>/);
    assert.match(html, /trailing slash/);
  });
});
