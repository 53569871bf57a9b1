/** The admin listener: metrics with the documented names, liveness, and readiness that means it. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { testClock } from '../../support/clock.ts';
import { coreConfig } from '../../support/configs.ts';
import { startGateway, type TestGateway } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

let issuer: TestIssuer;
let upstream: EchoUpstream;
let gateway: TestGateway;
const clock = testClock();

before(async () => {
  issuer = await startIssuer();
  issuer.setDown(true);
  upstream = await startEchoUpstream();
  const config = coreConfig(issuer.issuer, issuer.jwksUri, upstream.url);
  const issuers = (config['issuers'] as object[]).map((i) => ({ ...i, jwksCooldownSeconds: 1 }));
  gateway = await startGateway({ ...config, issuers }, { now: clock.now });
});

after(async () => {
  await gateway.close();
  await upstream.close();
  await issuer.close();
});

const METRICS = [
  'stepgate_requests_total',
  'stepgate_request_duration_seconds',
  'stepgate_upstream_duration_seconds',
  'stepgate_jwks_refresh_total',
  'stepgate_executions_total',
  'stepgate_audit_records_total',
  'stepgate_config_reloads_total',
  'process_resident_memory_bytes',
];

describe('the admin listener', () => {
  it('is alive at once, and not ready while an issuer’s keys have never been fetched', async () => {
    assert.equal((await fetch(`${gateway.adminUrl}/healthz`)).status, 200);
    const res = await fetch(`${gateway.adminUrl}/readyz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { checks: Record<string, boolean> };
    assert.equal(body.checks['issuerKeys'], false);
    assert.equal(body.checks['audit'], true);
  });

  it('refuses tokens with 503 while no keys were ever fetched, then recovers', async () => {
    const token = await issuer.sign({ sub: 'a', scope: 'orders:read' });
    const down = await fetch(`${gateway.url}/api/orders/1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(down.status, 503);
    assert.equal(((await down.json()) as { code: string }).code, 'SG_ERR_IDP_UNAVAILABLE');
    issuer.setDown(false);
    clock.advance(1000); // the 1 s cooldown between key fetches
    const up = await fetch(`${gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(up.status, 200);
    assert.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200);
  });

  it('exposes every documented metric', async () => {
    const res = await fetch(`${gateway.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const name of METRICS) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    assert.match(text, /stepgate_jwks_refresh_total\{issuer="ci",result="error"\} [1-9]/);
    assert.match(text, /stepgate_jwks_refresh_total\{issuer="ci",result="ok"\} [1-9]/);
    assert.match(text, /stepgate_audit_records_total\{sink="stdout",result="ok"\} [1-9]/);
  });

  it('is never served on the public port', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      assert.equal((await fetch(gateway.url + path)).status, 404, path);
    }
  });
});
