/**
 * What an upstream answers passes back to the client, except the gateway's own headers: the
 * response's `X-Request-Id` is always the one the audit record has, and `X-Stepgate-*` in any
 * spelling never reach the client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { coreConfig } from '../../support/configs.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { listen, startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { rawGet } from '../../support/raw-http.ts';

let issuer: TestIssuer;
let upstream: Awaited<ReturnType<typeof listen>>;
let gateway: TestGateway;

before(async () => {
  issuer = await startIssuer();
  upstream = await listen((_req, res) => {
    res.setHeader('X-Request-Id', 'forged');
    res.setHeader('X-Stepgate-Subject', 'root');
    res.setHeader('x_stepgate_groups', 'admins');
    res.setHeader('X-STEPGATE-Assertion', 'forged');
    res.setHeader('X-App', 'kept');
    res.end('ok');
  });
  gateway = await startGateway(coreConfig(issuer.issuer, issuer.jwksUri, `http://127.0.0.1:${upstream.port}`));
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await upstream.close();
  await issuer.close();
});

describe('an upstream’s response headers', () => {
  it('cannot replace the request id the audit record has, nor speak for the gateway', async () => {
    const token = await issuer.sign({ sub: 'alice', scope: 'orders:read' });
    const res = await rawGet(gateway.url, '/api/orders/1', [`Authorization: Bearer ${token}`]);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok');
    assert.equal(res.headers['x-app'], 'kept');
    const ids = res.raw.split('\r\n').filter((line) => /^x-request-id:/i.test(line));
    assert.equal(ids.length, 1, 'one X-Request-Id');
    assert.notEqual(res.headers['x-request-id'], 'forged');
    const record = await gateway.auditFor(res.headers['x-request-id']!);
    assert.equal(record.status, 200);
    const head = res.raw.slice(0, res.raw.indexOf('\r\n\r\n'));
    assert.doesNotMatch(head, /x[-_]stepgate[-_]/i);
  });
});
