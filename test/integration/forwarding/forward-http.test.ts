/**
 * The core path over real sockets: a token from a real issuer, the gateway on port 0, an echo
 * upstream that shows exactly what arrived.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { type EchoedRequest } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { withGateway } from '../../support/with-gateway.ts';

const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
});

const token = (claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub: 'ci-bot', scope: 'orders:read', email: 'bot@example.com', ...claims });

async function call(path: string, init: RequestInit & { token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  const res = await fetch(stack.gateway.url + path, { ...init, headers });
  const text = await res.text();
  return { res, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

describe('an allowed request', () => {
  it('reaches the upstream on the stripped canonical path with the identity attached', async () => {
    const { res, json } = await call('/api//orders/./42?expand=items&x=%2F', { token: await token() });
    assert.equal(res.status, 200);
    const echoed = json() as unknown as EchoedRequest;
    assert.equal(echoed.url, '/orders/42?expand=items&x=%2F');
    assert.equal(echoed.headers['x-stepgate-subject'], 'ci-bot');
    assert.equal(echoed.headers['x-stepgate-issuer'], 'ci');
    assert.equal(echoed.headers['x-stepgate-scopes'], 'orders:read');
    assert.equal(echoed.headers['x-stepgate-email'], 'bot@example.com');
    assert.equal(echoed.headers['x-request-id'], res.headers.get('x-request-id'));
    assert.equal(echoed.headers.authorization, undefined, 'Authorization is not forwarded by default');
  });

  it('carries an assertion the upstream can verify with the gateway JWKS', async () => {
    const { json } = await call('/api/orders/7', { token: await token() });
    const assertion = (json() as unknown as EchoedRequest).headers['x-stepgate-assertion'];
    assert.ok(typeof assertion === 'string');
    const jwks = createRemoteJWKSet(new URL(`${stack.gateway.url}/.well-known/stepgate/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(assertion, jwks, { audience: 'orders' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.sub, 'ci-bot');
    assert.equal(payload['idp'], stack.issuer.issuer);
    assert.ok(payload.jti);
    assert.ok(payload.exp! - payload.iat! <= 300);
  });

  it('forwards a POST body byte for byte', async () => {
    const body = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const { res, json } = await call('/api/orders/new', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
      token: await token({ scope: 'orders:write' }),
    });
    assert.equal(res.status, 200);
    const echoed = json() as unknown as EchoedRequest;
    assert.equal(echoed.method, 'POST');
    assert.equal(Buffer.from(echoed.body, 'utf8').equals(Buffer.from(body.toString('utf8'), 'utf8')), true);
  });

  it('forwards a JSON body unchanged', async () => {
    const body = '{"b":1,  "a":[2,3]}';
    const { json } = await call('/api/orders/new', {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/json' },
      token: await token({ scope: 'orders:write' }),
    });
    assert.equal((json() as unknown as EchoedRequest).body, body);
  });

  it('is audited as allowed with the caller and the configured claims, and never the token', async () => {
    const t = await token({ repository: 'acme/app' });
    const { res } = await call('/api/orders/1', { token: t });
    const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.decision, 'allow');
    assert.equal(record.reason, 'allowed');
    assert.equal(record.status, 200);
    assert.equal(record.http.route, 'orders-read');
    assert.equal(record.http.path, '/api/orders/1');
    assert.equal(record.caller?.sub, 'ci-bot');
    assert.equal(record.caller?.issuer, 'ci');
    assert.deepEqual(record.caller?.claims, { email: 'bot@example.com', repository: 'acme/app' });
    assert.equal(record.target?.name, 'orders');
    assert.match(record.policyVersion, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(record).includes(t));
  });

  it('serves a public route without a token and audits it as public', async () => {
    const { res } = await call('/public/status');
    assert.equal(res.status, 200);
    const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.reason, 'public');
    assert.equal(record.caller, undefined);
  });
});

describe('a refused request', () => {
  it('without a token gets 401 with a Bearer challenge and a problem document', async () => {
    const { res, json } = await call('/api/orders/1');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="stepgate"');
    const problem = json();
    assert.equal(problem['code'], 'SG_ERR_MISSING_TOKEN');
    assert.equal(problem['status'], 401);
    assert.equal(problem['requestId'], res.headers.get('x-request-id'));
    const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.decision, 'deny');
    assert.equal(record.reason, 'missing_token');
  });

  it('with a bad token gets 401 invalid_token', async () => {
    const { res, json } = await call('/api/orders/1', { token: 'not.a.token' });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate')!, /^Bearer realm="stepgate", error="invalid_token"/);
    assert.equal(json()['code'], 'SG_ERR_INVALID_TOKEN');
  });

  it('with an expired token gets 401 token_expired', async () => {
    const t = await token({
      exp: Math.floor(Date.now() / 1000) - 3600,
      iat: Math.floor(Date.now() / 1000) - 7200,
    });
    const { res, json } = await call('/api/orders/1', { token: t });
    assert.equal(res.status, 401);
    assert.equal(json()['code'], 'SG_ERR_TOKEN_EXPIRED');
    assert.equal((await stack.gateway.auditFor(res.headers.get('x-request-id')!)).reason, 'token_expired');
  });

  it('without the scope gets 403 insufficient_scope naming the missing scope', async () => {
    const before = stack.upstream.received.length;
    const { res, json } = await call('/api/orders/1', { method: 'POST', token: await token() });
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate')!, /error="insufficient_scope"/);
    assert.equal(json()['code'], 'SG_ERR_INSUFFICIENT_SCOPE');
    assert.match(String(json()['detail']), /orders:write/);
    assert.equal(stack.upstream.received.length, before, 'nothing reached the upstream');
    const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.reason, 'insufficient_scope');
    assert.equal(record.caller?.sub, 'ci-bot');
    assert.match(record.failed ?? '', /orders:write/);
  });

  it('on no route gets 404 no_route, audited', async () => {
    const { res, json } = await call('/admin/secrets', { token: await token() });
    assert.equal(res.status, 404);
    assert.equal(json()['code'], 'SG_ERR_NO_ROUTE');
    assert.equal((await stack.gateway.auditFor(res.headers.get('x-request-id')!)).reason, 'no_route');
  });

  it('does not serve /metrics on the public port', async () => {
    const { res } = await call('/metrics');
    assert.equal(res.status, 404);
  });
});
