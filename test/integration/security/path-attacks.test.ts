/**
 * What the policy judged is exactly what the upstream receives. Each request target is sent
 * byte for byte over a raw socket; refused ones must be a 400 problem, audited, that never
 * reaches the upstream.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EchoedRequest } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { rawGet, rawRequest } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

// Only /api/orders/* is reachable; /api/admin would be a different upstream path.
let auth: string;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => ({
    ...coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
    server: { publicUrl: 'https://gw.example.com' },
  }),
  setup: async () => {
    auth = `Authorization: Bearer ${await stack.issuer.sign({ sub: 'alice', scope: 'orders:read' })}`;
  },
});

const refused: [string, string][] = [
  ['encoded slash climbing out', '/api/orders/..%2f..%2fadmin'],
  ['encoded slash', '/api/orders%2Fx'],
  ['encoded backslash', '/api/orders/%5c..%5cadmin'],
  ['raw backslash', '/api/orders/..\\admin'],
  ['encoded NUL', '/api/orders/1%00.json'],
  ['encoded CR LF', '/api/orders/1%0d%0aX-Injected:%201'],
  ['semicolon segment', '/api/orders/..;/admin'],
  ['encoded semicolon', '/api/orders/1%3bjsessionid=x'],
  ['dot segments above the root', '/api/../../etc/passwd'],
  ['encoded dot segments above the root', '/%2e%2e/%2e%2e/etc/passwd'],
  ['overlong UTF-8 slash', '/api/orders/%c0%af..%c0%afadmin'],
  ['invalid UTF-8', '/api/orders/%ff'],
  ['malformed escape', '/api/orders/%zz'],
  ['fragment in the target', '/api/orders/1#x'],
  ['absolute form, foreign authority', 'http://evil.example/api/orders/1'],
  ['asterisk form', '*'],
];

describe('a request target the design refuses', () => {
  for (const [name, target] of refused) {
    it(`${name}: ${JSON.stringify(target)} → 400, audited, never forwarded`, async () => {
      const before = stack.upstream.received.length;
      const res = await rawGet(stack.gateway.url, target, [auth]);
      assert.equal(res.status, 400, res.raw);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      const problem = JSON.parse(res.body);
      assert.equal(problem.code, 'SG_ERR_BAD_PATH');
      assert.equal(problem.requestId, res.headers['x-request-id']);
      const record = await stack.gateway.auditFor(problem.requestId);
      assert.equal(record.reason, 'bad_request');
      assert.equal(record.decision, 'deny');
      assert.equal(stack.upstream.received.length, before);
    });
  }

  it('raw control characters in the request line never reach the app', async () => {
    const res = await rawRequest(stack.gateway.url, 'GET /api/orders/1\x00 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(res.status, 400);
  });
});

describe('a request target that is only spelled oddly', () => {
  const forwarded: [string, string][] = [
    ['/api//orders///1', '/orders/1'],
    ['/api/./orders/./1', '/orders/1'],
    ['/api/x/../orders/1', '/orders/1'],
    ['/api/%6frders/%31', '/orders/1'],
    ['/api/orders/a%2a', '/orders/a%2A'],
    ['https://gw.example.com/api/orders/9', '/orders/9'],
  ];
  for (const [target, upstreamPath] of forwarded) {
    it(`${JSON.stringify(target)} is judged and forwarded as ${upstreamPath}`, async () => {
      const res = await rawGet(stack.gateway.url, target, [auth]);
      assert.equal(res.status, 200, res.raw);
      assert.equal((JSON.parse(res.body) as EchoedRequest).url, upstreamPath);
      const record = await stack.gateway.auditFor(res.headers['x-request-id']!);
      assert.equal(record.http.path, `/api${upstreamPath}`);
    });
  }

  it('a path that normalizes out of the route is judged by where it lands', async () => {
    const res = await rawGet(stack.gateway.url, '/api/orders/../admin', [auth]);
    assert.equal(res.status, 404);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_NO_ROUTE');
  });

  it('routes are case-sensitive: /API/orders is not /api/orders', async () => {
    const res = await rawGet(stack.gateway.url, '/API/orders/1', [auth]);
    assert.equal(res.status, 404);
  });
});

describe('HEAD', () => {
  it('is authorized exactly as GET', async () => {
    const ok = await rawRequest(
      stack.gateway.url,
      `HEAD /api/orders/1 HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(ok.status, 200);
    const denied = await rawRequest(
      stack.gateway.url,
      'HEAD /api/orders/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.equal(denied.status, 401);
    const noScope = `Authorization: Bearer ${await stack.issuer.sign({ sub: 'bob', scope: 'other' })}`;
    const forbidden = await rawRequest(
      stack.gateway.url,
      `HEAD /api/orders/1 HTTP/1.1\r\nHost: x\r\n${noScope}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(forbidden.status, 403);
  });
});
