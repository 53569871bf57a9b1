/**
 * Requests the gateway can judge never get a 5xx: odd but legal paths and queries are forwarded
 * exactly, `Expect` is honoured without breaking the upstream call, and a claim that cannot be
 * written into a header is the catalog's 400 — each audited, none with an error in the log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EchoedRequest } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { rawGet, rawRequest } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

let auth: string;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
  setup: async () => {
    auth = `Authorization: Bearer ${await stack.issuer.sign({ sub: 'alice', scope: 'orders:read orders:write' })}`;
  },
});

const forwarded: [string, string][] = [
  ['/api/orders/...', '/orders/...'],
  ['/api/orders/..hidden', '/orders/..hidden'],
  ['/api/orders/a../b', '/orders/a../b'],
  ['/api/orders/1?next=../home', '/orders/1?next=../home'],
  ['/api/orders/1?q=100%', '/orders/1?q=100%'],
  ['/api/orders/1?q=%E0%A4%A', '/orders/1?q=%E0%A4%A'],
  ['/api/orders/1?a=%zz&b=%&c=..%2f..', '/orders/1?a=%zz&b=%&c=..%2f..'],
  ['/api/orders/1?', '/orders/1?'],
];

describe('an odd but legal request target', () => {
  for (const [target, upstreamUrl] of forwarded) {
    it(`${target} is forwarded exactly as ${upstreamUrl}`, async () => {
      const res = await rawGet(stack.gateway.url, target, [auth]);
      assert.equal(res.status, 200, res.raw);
      assert.equal((JSON.parse(res.body) as EchoedRequest).url, upstreamUrl);
      const record = await stack.gateway.auditFor(res.headers['x-request-id']!);
      assert.equal(record.reason, 'allowed');
    });
  }
});

describe('Expect', () => {
  it('100-continue: the client is told to go on, and the body reaches the upstream', async () => {
    const host = new URL(stack.gateway.url).host;
    const res = await rawRequest(
      stack.gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\nExpect: 100-continue\r\n` +
        'Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    assert.match(res.raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const echoed = JSON.parse(res.raw.slice(res.raw.indexOf('{'))) as EchoedRequest;
    assert.equal(echoed.body, 'hello');
    assert.equal(echoed.headers.expect, undefined);
  });

  it('anything else is served like any request and audited, not a bare 417', async () => {
    const res = await rawGet(stack.gateway.url, '/api/orders/1', [auth, 'Expect: teapot']);
    assert.equal(res.status, 200, res.raw);
    assert.equal((JSON.parse(res.body) as EchoedRequest).headers.expect, undefined);
    await stack.gateway.auditFor(res.headers['x-request-id']!);
  });
});

describe('a claim holding a lone surrogate', () => {
  it('is the catalog’s 400, audited, never forwarded', async () => {
    const before = stack.upstream.received.length;
    const token = await stack.issuer.sign({ sub: 'alice', scope: 'orders:read', email: 'a\ud800@example.com' });
    const res = await rawGet(stack.gateway.url, '/api/orders/1', [`Authorization: Bearer ${token}`]);
    assert.equal(res.status, 400, res.raw);
    const problem = JSON.parse(res.body) as { code: string; requestId: string };
    assert.equal(problem.code, 'SG_ERR_BAD_HEADER');
    assert.equal((await stack.gateway.auditFor(problem.requestId)).reason, 'bad_request');
    assert.equal(stack.upstream.received.length, before);
  });
});

describe('the log', () => {
  it('holds no error for any of these requests', () => {
    assert.doesNotMatch(stack.gateway.logs.text(), /"level":50/);
  });
});
