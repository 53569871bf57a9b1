/**
 * `audit.failClosed`: once a record cannot be written, requests are refused with 503 before they
 * are forwarded; with `failClosed: false` they flow on and the failure is counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

let issuer: TestIssuer;
let upstream: EchoUpstream;

before(async () => {
  issuer = await startIssuer();
  upstream = await startEchoUpstream();
});

after(async () => {
  await upstream.close();
  await issuer.close();
});

/** /dev/full accepts the open and fails every write with ENOSPC: a full disk. */
async function gatewayWithFullDisk(failClosed: boolean): Promise<TestGateway> {
  const gateway = await startGateway({
    ...coreConfig(issuer.issuer, issuer.jwksUri, upstream.url),
    audit: { failClosed, sinks: [{ type: 'stdout' }, { type: 'file', path: '/dev/full' }] },
  });
  await waitReady(gateway).catch(() => undefined);
  return gateway;
}

async function get(gateway: TestGateway) {
  const token = await issuer.sign({ sub: 'a', scope: 'orders:read' });
  return fetch(`${gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${token}` } });
}

describe('an audit sink that cannot be written', () => {
  it('with failClosed refuses requests with 503 audit_unavailable and forwards nothing', async () => {
    const gateway = await gatewayWithFullDisk(true);
    try {
      await get(gateway); // its record is the one that fails
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = upstream.received.length;
      const res = await get(gateway);
      assert.equal(res.status, 503);
      const problem = (await res.json()) as { code: string; requestId: string };
      assert.equal(problem.code, 'SG_ERR_AUDIT_UNAVAILABLE');
      assert.equal(upstream.received.length, before, 'nothing was forwarded');
      const refused = await gateway.auditFor(problem.requestId);
      assert.equal(refused.reason, 'audit_unavailable');
      assert.equal(refused.decision, 'deny');
      const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
      assert.match(metrics, /stepgate_audit_records_total\{sink="file",result="error"\} [1-9]/);
    } finally {
      await gateway.close();
    }
  });

  it('without failClosed keeps serving', async () => {
    const gateway = await gatewayWithFullDisk(false);
    try {
      await get(gateway);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await get(gateway)).status, 200);
    } finally {
      await gateway.close();
    }
  });
});
