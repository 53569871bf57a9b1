/**
 * One token, one transport, through the real front (DESIGN.md "Security invariants" → Tokens):
 * exactly one `Authorization` header, never the query string or a form body, the scheme in any
 * case. Node keeps only the first of repeated `Authorization` headers in `request.headers`, so a
 * second one is found only if the gateway reads the raw header list — this is what the unit
 * tests of `extractBearer` cannot show.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreConfig } from '../../support/configs.ts';
import { rawGet, rawRequest, type RawResponse } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

let token: string;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
  setup: async () => {
    token = await stack.issuer.sign({ sub: 'alice', scope: 'orders:read orders:write' });
  },
});

/** The answer is `status` with `code`, audited with `reason`, and the upstream saw nothing. */
async function refused(send: () => Promise<RawResponse>, status: number, code: string, reason: string) {
  const before = stack.upstream.received.length;
  const res = await send();
  assert.equal(res.status, status, res.raw);
  const problem = JSON.parse(res.body) as { code: string; requestId: string };
  assert.equal(problem.code, code);
  const record = await stack.gateway.auditFor(problem.requestId);
  assert.deepEqual([record.decision, record.reason, record.forwarded], ['deny', reason, false]);
  assert.equal(stack.upstream.received.length, before, 'nothing forwarded');
  return res;
}

describe('the bearer token', () => {
  it('is refused when two Authorization headers are sent, even the same valid one twice', async () => {
    for (const second of [`Bearer ${token}`, 'Basic YWxpY2U6c2VjcmV0', 'Bearer x.y.z']) {
      const res = await refused(
        () => rawGet(stack.gateway.url, '/api/orders/1', [`Authorization: Bearer ${token}`, `Authorization: ${second}`]),
        401,
        'SG_ERR_INVALID_TOKEN',
        'invalid_token',
      );
      assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="stepgate", error="invalid_token"/);
    }
  });

  it('is refused in the query string, with or without a header, and the query is not recorded', async () => {
    for (const headers of [[], [`Authorization: Bearer ${token}`]]) {
      const res = await refused(
        () => rawGet(stack.gateway.url, `/api/orders/1?access_token=${token}`, headers),
        400,
        'SG_ERR_BAD_REQUEST',
        'bad_request',
      );
      assert.ok(!JSON.stringify(await stack.gateway.auditFor(JSON.parse(res.body).requestId)).includes(token));
    }
  });

  it('is not read from a form body: without a header that is a missing token', async () => {
    const body = `access_token=${token}`;
    const host = new URL(stack.gateway.url).host;
    await refused(
      () =>
        rawRequest(
          stack.gateway.url,
          [
            'POST /api/orders/1 HTTP/1.1',
            `Host: ${host}`,
            'Content-Type: application/x-www-form-urlencoded',
            `Content-Length: ${body.length}`,
            'Connection: close',
            '',
            body,
          ].join('\r\n'),
        ),
      401,
      'SG_ERR_MISSING_TOKEN',
      'missing_token',
    );
  });

  it('is read whatever the case of the scheme (RFC 9110 §11.1)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const res = await rawGet(stack.gateway.url, '/api/orders/1', [`Authorization: ${scheme} ${token}`]);
      assert.equal(res.status, 200, `${scheme}: ${res.raw}`);
      const record = await stack.gateway.auditFor(res.headers['x-request-id']!);
      assert.deepEqual([record.reason, record.caller?.sub], ['allowed', 'alice']);
    }
  });
});
