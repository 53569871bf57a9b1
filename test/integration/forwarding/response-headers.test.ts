/**
 * What an upstream answers passes back to the client, except the gateway's own headers: the
 * response's `X-Request-Id` is always the one the audit record has, and `X-Stepgate-*` in any
 * spelling never reach the client.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreConfig } from '../../support/configs.ts';
import { rawGet } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

const stack = withGateway({
  upstream: (_req, res) => {
    res.setHeader('X-Request-Id', 'forged');
    res.setHeader('X-Stepgate-Subject', 'root');
    res.setHeader('x_stepgate_groups', 'admins');
    res.setHeader('X-STEPGATE-Assertion', 'forged');
    res.setHeader('X-App', 'kept');
    res.end('ok');
  },
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
});

describe('an upstream’s response headers', () => {
  it('cannot replace the request id the audit record has, nor speak for the gateway', async () => {
    const token = await stack.issuer.sign({ sub: 'alice', scope: 'orders:read' });
    const res = await rawGet(stack.gateway.url, '/api/orders/1', [`Authorization: Bearer ${token}`]);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok');
    assert.equal(res.headers['x-app'], 'kept');
    const ids = res.raw.split('\r\n').filter((line) => /^x-request-id:/i.test(line));
    assert.equal(ids.length, 1, 'one X-Request-Id');
    assert.notEqual(res.headers['x-request-id'], 'forged');
    const record = await stack.gateway.auditFor(res.headers['x-request-id']!);
    assert.equal(record.status, 200);
    const head = res.raw.slice(0, res.raw.indexOf('\r\n\r\n'));
    assert.doesNotMatch(head, /x[-_]stepgate[-_]/i);
  });
});
