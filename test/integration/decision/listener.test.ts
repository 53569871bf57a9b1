/**
 * Decision mode at the HTTP level of Envoy's ext_authz protocol (HttpService with `path_prefix`,
 * as Istio's envoyExtAuthzHttp provider sends it): what allows, what denies and how, and that
 * only trusted peers may ask. Each check is audited with `"mode":"decision"`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { decisionTestConfig, rawRequest } from '../../support/decision.ts';
import { withGateway } from '../../support/with-gateway.ts';

const PUBLIC_URL = 'https://app.example.com';
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) =>
    decisionTestConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, upstreamUrl, publicUrl: PUBLIC_URL }),
});

const token = (claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub: 'ci-bot', scope: 'orders:read', email: 'bot@example.com', ...claims });

/** A check as Envoy sends it: the client's method, /envoy + its path, its Host, Content-Length 0. */
function envoyCheck(method: string, path: string, headers: Record<string, string> = {}, localAddress?: string) {
  return rawRequest(stack.gateway.decisionUrl!, {
    method,
    path: `/envoy${path}`,
    headers: { host: 'app.example.com', 'content-length': '0', ...headers },
    ...(localAddress ? { localAddress } : {}),
  });
}

const requestId = (headers: Record<string, unknown>) => String(headers['x-request-id']);

describe('an allowed check', () => {
  it('is a 200 carrying the identity headers and an assertion for the upstream, and nothing else of the caller', async () => {
    const t = await token();
    const answer = await envoyCheck('GET', '/api/orders/42?expand=1', { authorization: `Bearer ${t}` });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-stepgate-subject'], 'ci-bot');
    assert.equal(answer.headers['x-stepgate-issuer'], 'ci');
    assert.equal(answer.headers['x-stepgate-scopes'], 'orders:read');
    assert.equal(answer.headers['x-stepgate-email'], 'bot@example.com');
    // Present and empty: a proxy that copies it replaces whatever the client sent.
    assert.equal(answer.headers['x-stepgate-groups'], '');
    assert.equal(answer.body, '');
    assert.ok(!JSON.stringify(answer.headers).includes(t), 'the token never comes back');
    const jwks = createRemoteJWKSet(new URL(`${stack.gateway.url}/.well-known/stepgate/jwks.json`));
    const { payload } = await jwtVerify(String(answer.headers['x-stepgate-assertion']), jwks, { audience: 'orders' });
    assert.equal(payload.sub, 'ci-bot');
  });

  it('judges the canonical path, as gateway mode does, and is audited with mode decision', async () => {
    const answer = await envoyCheck('GET', '/api//orders/./7', { authorization: `Bearer ${await token()}` });
    assert.equal(answer.status, 200);
    const record = await stack.gateway.auditFor(requestId(answer.headers));
    assert.equal(record.mode, 'decision');
    assert.equal(record.decision, 'allow');
    assert.equal(record.reason, 'allowed');
    assert.equal(record.http.method, 'GET');
    assert.equal(record.http.path, '/api/orders/7');
    assert.equal(record.http.route, 'orders-read');
    assert.equal(record.caller?.sub, 'ci-bot');
    assert.equal(record.target?.name, 'orders');
    assert.equal(stack.upstream.received.length, 0, 'decision mode never forwards');
  });

  it('judges HEAD as GET, and a public route without identity (every identity header empty)', async () => {
    const head = await envoyCheck('HEAD', '/api/orders/1', { authorization: `Bearer ${await token()}` });
    assert.equal(head.status, 200);
    const open = await envoyCheck('GET', '/public/status');
    assert.equal(open.status, 200);
    assert.equal(open.headers['x-stepgate-subject'], '');
    assert.equal(open.headers['x-stepgate-assertion'], '');
    assert.equal((await stack.gateway.auditFor(requestId(open.headers))).reason, 'public');
  });
});

describe('a refused check', () => {
  it('without credentials is the 401 with the Bearer challenge and problem document gateway mode gives', async () => {
    const answer = await envoyCheck('GET', '/api/orders/1');
    assert.equal(answer.status, 401);
    assert.match(String(answer.headers['www-authenticate']), /^Bearer /);
    assert.equal(answer.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(JSON.parse(answer.body).code, 'SG_ERR_MISSING_TOKEN');
    assert.equal(answer.headers['x-stepgate-subject'], undefined, 'no identity header on a refusal');
    const record = await stack.gateway.auditFor(requestId(answer.headers));
    assert.deepEqual([record.mode, record.decision, record.reason, record.status], ['decision', 'deny', 'missing_token', 401]);
  });

  it('with the wrong scope is the 403 insufficient_scope, naming the missing scope', async () => {
    const answer = await envoyCheck('POST', '/api/orders/1', { authorization: `Bearer ${await token()}` });
    assert.equal(answer.status, 403);
    assert.match(String(answer.headers['www-authenticate']), /error="insufficient_scope"/);
    assert.equal(answer.headers['x-stepgate-assertion'], undefined);
    const record = await stack.gateway.auditFor(requestId(answer.headers));
    assert.equal(record.reason, 'insufficient_scope');
    assert.match(record.failed ?? '', /orders:write/);
  });

  it('sends a browser on a session route to log in, at the gateway origin', async () => {
    const answer = await envoyCheck('GET', '/api/orders/9?x=1', { accept: 'text/html' });
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.location, `${PUBLIC_URL}/.stepgate/login?rd=${encodeURIComponent('/api/orders/9?x=1')}`);
    assert.equal((await stack.gateway.auditFor(requestId(answer.headers))).reason, 'missing_token');
  });

  it('refuses what gateway mode refuses: an encoded slash, a climb above the root, no route', async () => {
    for (const [path, status, code] of [
      ['/api/orders/a%2Fb', 400, 'SG_ERR_BAD_PATH'],
      ['/api/../../etc/passwd', 400, 'SG_ERR_BAD_PATH'],
      ['/nowhere', 404, 'SG_ERR_NO_ROUTE'],
    ] as const) {
      const answer = await envoyCheck('GET', path, { authorization: `Bearer ${await token()}` });
      assert.equal(answer.status, status, path);
      assert.equal(JSON.parse(answer.body).code, code, path);
      assert.equal((await stack.gateway.auditFor(requestId(answer.headers))).mode, 'decision');
    }
  });

  it('refuses a route to an execution target, which only gateway mode can serve', async () => {
    const answer = await envoyCheck('POST', '/workflows/deploy', {
      authorization: `Bearer ${await token({ scope: 'deploy:start' })}`,
    });
    assert.equal(answer.status, 403);
    assert.equal(JSON.parse(answer.body).code, 'SG_ERR_DECISION_TARGET');
  });

  it('refuses a method override the proxy would pass on: _method in the query, an override header in any spelling', async () => {
    // Gateway mode refuses `_method` and drops the override headers; here the proxy forwards the
    // client's request as it is, so a caller allowed to POST (or GET) must not reach a DELETE.
    const t = await token({ scope: 'orders:read orders:write' });
    const cases: [string, string, Record<string, string>][] = [
      ['POST', '/api/orders/1?_method=DELETE', {}],
      ['POST', '/api/orders/1?a=1&%5Fmethod=PUT', {}],
      ['GET', '/api/orders/1', { 'x-http-method-override': 'DELETE' }],
      ['POST', '/api/orders/1', { 'X-Method-Override': 'DELETE' }],
      ['GET', '/api/orders/1', { x_http_method: 'DELETE' }],
    ];
    for (const [method, path, headers] of cases) {
      const answer = await envoyCheck(method, path, { authorization: `Bearer ${t}`, ...headers });
      const what = `${method} ${path} ${JSON.stringify(headers)}`;
      assert.equal(answer.status, 400, what);
      assert.equal(JSON.parse(answer.body).code, 'SG_ERR_METHOD_OVERRIDE', what);
      assert.equal(answer.headers['x-stepgate-subject'], undefined, what);
      const record = await stack.gateway.auditFor(requestId(answer.headers));
      assert.deepEqual([record.mode, record.decision, record.reason], ['decision', 'deny', 'bad_request'], what);
    }
    // What only looks like one is judged as usual.
    const plain = await envoyCheck('POST', '/api/orders/1?x=_method', { authorization: `Bearer ${t}` });
    assert.equal(plain.status, 200);
  });

  it('refuses a gateway header spelled with "_", which no proxy setting replaces and CGI-style upstreams read as the real one', async () => {
    const t = await token();
    for (const name of ['X_Stepgate_Subject', 'x-stepgate_groups', 'X_STEPGATE_ASSERTION']) {
      const answer = await envoyCheck('GET', '/api/orders/1', { authorization: `Bearer ${t}`, [name]: 'admin' });
      assert.equal(answer.status, 400, name);
      assert.equal(JSON.parse(answer.body).code, 'SG_ERR_BAD_HEADER', name);
      const record = await stack.gateway.auditFor(requestId(answer.headers));
      assert.deepEqual([record.mode, record.decision, record.reason], ['decision', 'deny', 'bad_request'], name);
    }
    // The dash spelling is the proxy's to replace (every configured header is in the answer).
    const dashed = await envoyCheck('GET', '/api/orders/1', { authorization: `Bearer ${t}`, 'x-stepgate-subject': 'admin' });
    assert.equal(dashed.status, 200);
    assert.equal(dashed.headers['x-stepgate-subject'], 'ci-bot');
  });

  it('applies the route rate limit: the third check in the window is a 429', async () => {
    const t = await token({ sub: 'limited-caller' });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await envoyCheck('GET', '/api/limited', { authorization: `Bearer ${t}` })).status);
    assert.deepEqual(statuses, [200, 200, 429]);
  });
});

describe('who may ask', () => {
  it('refuses a peer outside trustedPeers with 403, audited, whatever it names', async () => {
    const answer = await envoyCheck('GET', '/public/status', {}, '127.0.0.2');
    assert.equal(answer.status, 403);
    assert.equal(JSON.parse(answer.body).code, 'SG_ERR_UNTRUSTED_PEER');
    const record = await stack.gateway.auditFor(requestId(answer.headers));
    assert.deepEqual([record.mode, record.decision, record.reason, record.http.sourceIp], ['decision', 'deny', 'untrusted_peer', '127.0.0.2']);
  });

  it('counts decisions in the same metrics as gateway mode', async () => {
    const metrics = await (await fetch(`${stack.gateway.adminUrl}/metrics`)).text();
    assert.match(metrics, /stepgate_requests_total\{route="orders-read",decision="allow",reason="allowed",status="200"\} \d+/);
    assert.match(metrics, /stepgate_requests_total\{route="\(none\)",decision="deny",reason="untrusted_peer",status="403"\} 1/);
  });
});

describe('a check that does not name the original request', () => {
  const nginxCheck = (headers: Record<string, string> | string[]) =>
    rawRequest(stack.gateway.decisionUrl!, { method: 'GET', path: '/nginx', headers });

  it('is a 400 when nginx sends no X-Original-URI, or names it twice', async () => {
    const missing = await nginxCheck({ 'x-original-method': 'GET' });
    assert.equal(missing.status, 400);
    assert.equal(JSON.parse(missing.body).code, 'SG_ERR_DECISION_REQUEST');
    const twice = await nginxCheck([
      'x-original-method', 'GET', 'x-original-uri', '/api/orders/1', 'x-original-uri', '/public/status',
    ]);
    assert.equal(twice.status, 400);
    assert.match(JSON.parse(twice.body).detail, /more than one x-original-uri/);
    assert.equal((await stack.gateway.auditFor(requestId(twice.headers))).mode, 'decision');
  });

  it('is a 400 for a method gateway mode would refuse (lowercase, unknown, CONNECT)', async () => {
    for (const method of ['get', 'FOO', 'CONNECT']) {
      const answer = await nginxCheck({ 'x-original-method': method, 'x-original-uri': '/public/status' });
      assert.equal(answer.status, 400, method);
    }
  });

  it('is a 404 on a path no protocol serves', async () => {
    const answer = await rawRequest(stack.gateway.decisionUrl!, { method: 'GET', path: '/api/orders/1' });
    assert.equal(answer.status, 404);
  });

  it('takes Traefik\'s X-Forwarded-Method and -Uri', async () => {
    const answer = await rawRequest(stack.gateway.decisionUrl!, {
      method: 'GET',
      path: '/traefik',
      headers: { 'x-forwarded-method': 'HEAD', 'x-forwarded-uri': '/public/status', 'x-forwarded-host': 'app.example.com' },
    });
    assert.equal(answer.status, 200);
    const record = await stack.gateway.auditFor(requestId(answer.headers));
    assert.deepEqual([record.http.method, record.http.path, record.reason], ['HEAD', '/public/status', 'public']);
  });
});
