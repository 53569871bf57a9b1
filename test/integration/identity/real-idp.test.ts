/**
 * Tokens from a real OpenID Provider's token endpoint (oidc-provider, Keycloak- and Okta-shaped)
 * through the gateway, including a key rotation and an IdP outage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoedRequest, type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIdp, type TestIdp } from '../../support/idp.ts';
import { testClock } from '../../support/clock.ts';

let keycloak: TestIdp;
let okta: TestIdp;
let upstream: EchoUpstream;
let gateway: TestGateway;
const clock = testClock();

before(async () => {
  [keycloak, okta, upstream] = await Promise.all([
    startIdp({ preset: 'keycloak' }),
    startIdp({ preset: 'okta' }),
    startEchoUpstream(),
  ]);
  gateway = await startGateway({
    issuers: [
      {
        name: 'keycloak',
        issuer: keycloak.issuer,
        audiences: ['stepgate'],
        preset: 'keycloak',
        jwksCooldownSeconds: 1,
      },
      { name: 'okta', issuer: okta.issuer, audiences: ['stepgate'], preset: 'okta' },
    ],
    targets: { orders: { type: 'http', url: upstream.url, stripPrefix: '/api' } },
    routes: [
      {
        name: 'deployers',
        path: '/api/deploy',
        methods: ['POST'],
        target: 'orders',
        issuers: ['keycloak'],
        allow: { scopes: ['deploy:start'], roles: ['deployer', 'stepgate:operator'] },
      },
      { name: 'orders-read', path: '/api/orders/*', target: 'orders', allow: { scopes: ['orders:read'] } },
      { name: 'support', path: '/api/support', target: 'orders', allow: { groups: ['support'] } },
    ],
  }, { now: clock.now });
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await Promise.all([keycloak.close(), okta.close(), upstream.close()]);
});

async function call(path: string, token: string, method = 'GET') {
  const res = await fetch(gateway.url + path, { method, headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  return { status: res.status, body, requestId: res.headers.get('x-request-id')! };
}

describe('a Keycloak client-credentials token', () => {
  it('is accepted with its realm and client roles', async () => {
    const token = await keycloak.getToken({ clientId: 'ci-bot' });
    const res = await call('/api/deploy', token, 'POST');
    assert.equal(res.status, 200, res.body);
    const echoed = JSON.parse(res.body) as EchoedRequest;
    assert.equal(echoed.headers['x-stepgate-subject'], keycloak.subjectOf('ci-bot'));
    assert.equal(echoed.headers['x-stepgate-client'], 'ci-bot');
    const record = await gateway.auditFor(res.requestId);
    assert.ok(record.caller?.roles.includes('stepgate:operator'));
    assert.equal(record.caller?.authMethod, 'bearer');
  });

  it('without the scope is refused with 403 naming it', async () => {
    const token = await keycloak.getToken({ clientId: 'reader' });
    const res = await call('/api/deploy', token, 'POST');
    assert.equal(res.status, 403);
    assert.match(JSON.parse(res.body).detail, /deploy:start/);
  });
});

describe('an Okta token', () => {
  it('is accepted by its scp and groups', async () => {
    const token = await okta.getToken({ clientId: 'reader' });
    assert.equal((await call('/api/orders/1', token)).status, 200);
    assert.equal((await call('/api/support', token)).status, 200);
  });

  it('is refused where the route accepts only Keycloak', async () => {
    const token = await okta.getToken({ clientId: 'ci-bot' });
    const res = await call('/api/deploy', token, 'POST');
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_WRONG_ISSUER');
  });
});

describe('the identity provider', () => {
  it('rotating its keys: new tokens verify after one JWKS fetch', async () => {
    await keycloak.rotateKeys();
    clock.advance(1000); // past the 1 s cooldown
    const before = keycloak.jwksRequests();
    const token = await keycloak.getToken({ clientId: 'reader' });
    assert.equal((await call('/api/orders/1', token)).status, 200);
    assert.equal((await call('/api/orders/2', token)).status, 200);
    assert.equal(keycloak.jwksRequests() - before, 1);
  });

  it('being down: tokens signed with cached keys still verify, with no fetch per request', async () => {
    const token = await okta.getToken({ clientId: 'reader' });
    okta.setDown(true);
    try {
      const before = okta.jwksRequests();
      for (let i = 0; i < 5; i++) assert.equal((await call('/api/orders/1', token)).status, 200);
      assert.equal(okta.jwksRequests(), before);
      const ready = await fetch(`${gateway.adminUrl}/readyz`);
      assert.equal(ready.status, 200, 'cached keys keep the gateway ready');
    } finally {
      okta.setDown(false);
    }
  });
});
