/**
 * A gateway that started while its IdP was down becomes ready once the IdP is back, with no
 * request but the readiness probe: behind a load balancer or a Kubernetes Service a not-ready
 * instance receives no traffic, so nothing else would ever fetch the keys it lacks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { testClock } from '../../support/clock.ts';
import { eventually, startGateway } from '../../support/gateway.ts';
import { startIdp } from '../../support/idp.ts';

describe('/readyz after an IdP outage at start', () => {
  test('turns ready on its own once the IdP answers (probes only, within the cooldown)', async (t) => {
    const idp = await startIdp({ preset: 'keycloak' });
    t.after(() => idp.close());
    idp.setDown('503');
    const clock = testClock();
    const gateway = await startGateway({
      issuers: [{ name: 'kc', issuer: idp.issuer, audiences: ['stepgate'], preset: 'keycloak', jwksCooldownSeconds: 1 }],
      targets: { t: { type: 'http', url: 'http://127.0.0.1:9' } },
      routes: [{ name: 'r', path: '/r', target: 't', allow: { scopes: ['x'] } }],
    }, { now: clock.now });
    t.after(() => gateway.close());
    const ready = async () => (await fetch(`${gateway.adminUrl}/readyz`)).status;
    assert.equal(await ready(), 503);
    idp.setDown(false);
    const attempts = idp.discoveryRequests();
    for (let i = 0; i < 5; i++) assert.equal(await ready(), 503);
    assert.equal(idp.discoveryRequests(), attempts, 'probes within the 1 s cooldown ask the IdP nothing');
    clock.advance(1000);
    await eventually(async () => (await ready()) === 200, 'ready without any request but the probe');
    assert.equal(idp.discoveryRequests(), attempts + 1, 'one attempt once the cooldown is over');
  });
});
