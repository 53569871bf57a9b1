/**
 * Spoofed and hop-by-hop headers, sent over raw sockets so nothing normalizes them on the way:
 * the upstream must see only what the gateway vouches for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EchoedRequest } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { type TestGateway } from '../../support/gateway.ts';
import { rawGet, rawRequest } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

let trusting: TestGateway;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
  setup: async () => {
    const { issuer, upstreamUrl } = stack;
    trusting = await stack.startGateway({
      ...coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
      server: { trustProxy: ['127.0.0.1/32'] },
    });
  },
});

const bearer = async () =>
  `Authorization: Bearer ${await stack.issuer.sign({ sub: 'alice', scope: 'orders:read' })}`;

async function echoed(
  gw: TestGateway,
  headerLines: string[],
  target = '/api/orders/1',
): Promise<EchoedRequest> {
  const res = await rawGet(gw.url, target, [await bearer(), ...headerLines]);
  assert.equal(res.status, 200, res.raw);
  return JSON.parse(res.body) as EchoedRequest;
}

describe('headers a client sends', () => {
  it('cannot claim an identity, in any spelling', async () => {
    const seen = await echoed(stack.gateway, [
      'X-Stepgate-Subject: admin',
      'x-stepgate-issuer: evil',
      'X_Stepgate_Subject: admin',
      'X-STEPGATE-SCOPES: orders:write',
      'X-Stepgate-Assertion: forged',
      'X-Stepgate-Whatever: x',
    ]);
    assert.equal(seen.headers['x-stepgate-subject'], 'alice');
    assert.equal(seen.headers['x-stepgate-issuer'], 'ci');
    assert.equal(seen.headers['x-stepgate-scopes'], 'orders:read');
    assert.notEqual(seen.headers['x-stepgate-assertion'], 'forged');
    assert.equal(seen.headers['x_stepgate_subject'], undefined);
    assert.equal(seen.headers['x-stepgate-whatever'], undefined);
    const subjects = seen.rawHeaders.filter(
      (_, i) => i % 2 === 0 && /stepgate.subject/i.test(seen.rawHeaders[i]!),
    );
    assert.equal(subjects.length, 1, 'exactly one subject header arrives');
  });

  it('cannot claim routing or a client address from an untrusted peer', async () => {
    const seen = await echoed(stack.gateway, [
      'X-Forwarded-For: 10.9.9.9',
      'X-Forwarded-Host: admin.internal',
      'X-Forwarded-Proto: https',
      'Forwarded: for=10.9.9.9;host=admin.internal',
      'X-Original-URL: /admin',
      'X-Rewrite-URL: /admin',
      'X_Forwarded_For: 10.8.8.8',
      'X-Real-IP: 10.9.9.9',
    ]);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.notEqual(seen.headers['x-forwarded-host'], 'admin.internal');
    for (const name of ['forwarded', 'x-original-url', 'x-rewrite-url', 'x_forwarded_for', 'x-real-ip']) {
      assert.equal(seen.headers[name], undefined, name);
    }
  });

  it('keeps a trusted proxy’s forwarding headers and appends the peer', async () => {
    const seen = await echoed(trusting, ['X-Forwarded-For: 203.0.113.7', 'X-Forwarded-Proto: https']);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 203.0.113.7');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    const res = await rawGet(trusting.url, '/api/orders/1', [await bearer(), 'X-Forwarded-For: 203.0.113.7']);
    const record = await trusting.auditFor(res.headers['x-request-id']!);
    assert.equal(record.http.sourceIp, '203.0.113.7');
  });

  it('cannot override the method the policy judged', async () => {
    const seen = await echoed(stack.gateway, [
      'X-HTTP-Method-Override: DELETE',
      'X-HTTP-Method: DELETE',
      'X-Method-Override: DELETE',
    ]);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.headers['x-http-method-override'], undefined);
    assert.equal(seen.headers['x-http-method'], undefined);
    assert.equal(seen.headers['x-method-override'], undefined);
  });

  it('cannot use Connection to strip the identity headers the gateway adds', async () => {
    const res = await rawRequest(
      stack.gateway.url,
      [
        'GET /api/orders/1 HTTP/1.1',
        `Host: ${new URL(stack.gateway.url).host}`,
        await bearer(),
        'Connection: close, X-Stepgate-Subject, X-Stepgate-Assertion, X-Request-Id, X-Forwarded-For',
        'Keep-Alive: timeout=5',
        'X-Custom: kept',
        '',
        '',
      ].join('\r\n'),
    );
    assert.equal(res.status, 200, res.raw);
    const seen = JSON.parse(res.body) as EchoedRequest;
    assert.equal(seen.headers['x-stepgate-subject'], 'alice');
    assert.ok(seen.headers['x-stepgate-assertion']);
    assert.ok(seen.headers['x-request-id']);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers['x-custom'], 'kept');
  });

  it('never forwards the Authorization header unless the target asks for it', async () => {
    const seen = await echoed(stack.gateway, []);
    assert.equal(seen.headers.authorization, undefined);
  });

  it('cannot smuggle CR/LF into a header the gateway writes', async () => {
    const token = await stack.issuer.sign({
      sub: 'alice',
      scope: 'orders:read',
      email: 'a@example.com\r\nX-Stepgate-Subject: root',
    });
    const before = stack.upstream.received.length;
    const res = await rawGet(stack.gateway.url, '/api/orders/1', [`Authorization: Bearer ${token}`]);
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_BAD_HEADER');
    assert.equal(stack.upstream.received.length, before);
  });

  it('answers oversized headers with 431, audited', async () => {
    const res = await rawGet(stack.gateway.url, '/api/orders/1', [`X-Big: ${'a'.repeat(20_000)}`]);
    assert.equal(res.status, 431);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const problem = JSON.parse(res.body);
    assert.equal(problem.code, 'SG_ERR_HEADERS_TOO_LARGE');
    const record = await stack.gateway.auditFor(problem.requestId);
    assert.equal(record.status, 431);
    assert.equal(record.decision, 'deny');
  });
});

describe('requests no proxy should pass on', () => {
  it('two Host headers are a 400 (RFC 9112 §3.2), never forwarded', async () => {
    const before = stack.upstream.received.length;
    const res = await rawGet(stack.gateway.url, '/api/orders/1', [await bearer(), 'Host: internal.example']);
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_BAD_HEADER');
    assert.equal(stack.upstream.received.length, before);
  });

  it('CONNECT is refused with a problem document and audited, not dropped silently', async () => {
    const res = await rawRequest(stack.gateway.url, 'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n');
    assert.equal(res.status, 400);
    const problem = JSON.parse(res.body);
    assert.equal(problem.code, 'SG_ERR_BAD_REQUEST');
    assert.match(problem.detail, /CONNECT/);
    const record = await stack.gateway.auditFor(problem.requestId);
    assert.equal(record.decision, 'deny');
    assert.equal(record.status, 400);
  });
});

describe('request framing (no request smuggling)', () => {
  const writer = async () => `Authorization: Bearer ${await stack.issuer.sign({ sub: 'alice', scope: 'orders:write' })}`;
  const smuggled = 'GET /api/orders/admin HTTP/1.1\r\nHost: x\r\n\r\n';
  const post = async (framing: string[], body: string) =>
    rawRequest(
      stack.gateway.url,
      ['POST /api/orders/1 HTTP/1.1', `Host: ${new URL(stack.gateway.url).host}`, await writer(), ...framing, 'Connection: close', '', body].join('\r\n'),
    );

  it('ambiguous framing is a 400, audited, never forwarded: CL with TE, an unknown coding, two lengths', async () => {
    const cases: [string, string[], string][] = [
      ['Content-Length beside Transfer-Encoding', [`Content-Length: ${5 + smuggled.length}`, 'Transfer-Encoding: chunked'], `0\r\n\r\n${smuggled}`],
      ['a coding that is not chunked', ['Transfer-Encoding: xchunked'], '0\r\n\r\n'],
      ['two codings', ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], '0\r\n\r\n'],
      ['two lengths', ['Content-Length: 3', 'Content-Length: 40'], 'abc'],
    ];
    for (const [what, framing, body] of cases) {
      const before = stack.upstream.received.length;
      const res = await post(framing, body);
      assert.equal(res.status, 400, `${what}: ${res.raw}`);
      const problem = JSON.parse(res.body) as { code: string; requestId: string };
      assert.equal(problem.code, 'SG_ERR_BAD_REQUEST', what);
      assert.equal((await stack.gateway.auditFor(problem.requestId)).reason, 'bad_request', what);
      assert.equal(stack.upstream.received.length, before, `${what}: nothing forwarded`);
    }
  });

  it('a chunked body is re-framed: the upstream gets one request with a Content-Length, the bytes as data', async () => {
    const before = stack.upstream.received.length;
    const res = await post(['Transfer-Encoding: chunked'], `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`);
    assert.equal(res.status, 200, res.raw);
    const received = stack.upstream.received.slice(before);
    assert.equal(received.length, 1, 'one request reached the upstream');
    assert.equal(received[0]!.url, '/orders/1');
    assert.equal(received[0]!.headers['content-length'], String(smuggled.length));
    assert.equal(received[0]!.headers['transfer-encoding'], undefined);
    assert.equal(received[0]!.body, smuggled);
  });
});
