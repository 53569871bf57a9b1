/**
 * Client-credentials tokens of the real Keycloak (realm file `deploy/keycloak/stepgate-realm.json`)
 * through the gateway with the `keycloak` preset: `scope`, `realm_access.roles`,
 * `resource_access.<client>.roles`, `groups` and `azp` are what the policy sees, and what the
 * upstream and the audit record are told.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoedRequest, type EchoUpstream, startEchoUpstream } from '../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../support/gateway.ts';
import { claimsOf, clientCredentials, issuerOf, KeycloakAdmin, uniqueName } from '../support/keycloak.ts';
import { keycloakService, keycloakUrl } from '../support/services.ts';

let upstream: EchoUpstream;
let gateway: TestGateway;
let issuer: string;

before(async () => {
  const kc = keycloakService();
  if (!kc) return;
  issuer = issuerOf(kc);
  upstream = await startEchoUpstream();
  gateway = await startGateway({
    issuers: [{ name: 'keycloak', issuer, audiences: ['stepgate'], preset: 'keycloak' }],
    targets: { orders: { type: 'http', url: upstream.url, stripPrefix: '/api' } },
    routes: [
      {
        name: 'deploy',
        path: '/api/deploy',
        methods: ['POST'],
        target: 'orders',
        allow: { scopes: ['deploy:start'], roles: ['deployer', 'stepgate:operator'], groups: ['platform'] },
      },
      {
        name: 'ci-only',
        path: '/api/ci',
        target: 'orders',
        allow: { claims: { azp: 'ci-bot' } },
      },
      { name: 'orders-read', path: '/api/orders/*', target: 'orders', allow: { scopes: ['orders:read'] } },
      {
        name: 'orders-write',
        path: '/api/orders/*',
        methods: ['POST'],
        target: 'orders',
        allow: { scopes: ['orders:write'] },
      },
      { name: 'support', path: '/api/support', target: 'orders', allow: { groups: ['support'], roles: ['viewer'] } },
    ],
    audit: { claims: ['azp'] },
  });
  await waitReady(gateway);
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
});

async function call(path: string, token: string, method = 'GET') {
  const res = await fetch(gateway.url + path, { method, headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  return { status: res.status, body, requestId: res.headers.get('x-request-id')! };
}

describe('Keycloak client-credentials tokens through the gateway', () => {
  it('ci-bot with deploy:start, its realm role, client role and group starts a deploy', async (t) => {
    if (!keycloakUrl(t)) return;
    const { access_token: token } = await clientCredentials(issuer, 'ci-bot', { scope: 'deploy:start' });
    const res = await call('/api/deploy', token, 'POST');
    assert.equal(res.status, 200, res.body);
    const echoed = JSON.parse(res.body) as EchoedRequest;
    assert.equal(echoed.headers['x-stepgate-subject'], claimsOf(token)['sub']);
    assert.equal(echoed.headers['x-stepgate-client'], 'ci-bot');
    assert.equal(echoed.headers['x-stepgate-groups'], 'platform');
    const record = await gateway.auditFor(res.requestId);
    assert.equal(record.decision, 'allow');
    assert.equal(record.caller?.clientId, 'ci-bot');
    assert.deepEqual(record.caller?.scopes, ['deploy:start']);
    assert.deepEqual([...(record.caller?.roles ?? [])].sort(), ['deployer', 'stepgate:operator']);
    assert.deepEqual(record.caller?.groups, ['platform']);
    assert.equal(record.caller?.iss, issuer);
  });

  it('ci-bot without asking for deploy:start is refused with 403 naming the scope', async (t) => {
    if (!keycloakUrl(t)) return;
    const { access_token: token } = await clientCredentials(issuer, 'ci-bot', { scope: 'orders:read' });
    const res = await call('/api/deploy', token, 'POST');
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_INSUFFICIENT_SCOPE');
    assert.match(JSON.parse(res.body).detail, /deploy:start/);
    const record = await gateway.auditFor(res.requestId);
    assert.equal(record.decision, 'deny');
    assert.equal(record.reason, 'insufficient_scope');
  });

  it('reader (orders:read as a default scope) reads orders and may not write them', async (t) => {
    if (!keycloakUrl(t)) return;
    const { access_token: token } = await clientCredentials(issuer, 'reader');
    assert.equal((await call('/api/orders/42', token)).status, 200);
    const write = await call('/api/orders/42', token, 'POST');
    assert.equal(write.status, 403);
    assert.equal(JSON.parse(write.body).code, 'SG_ERR_INSUFFICIENT_SCOPE');
    const support = await call('/api/support', token);
    assert.equal(support.status, 200, 'group support and realm role viewer');
  });

  it('azp is a claim the policy can name: reader is not ci-bot', async (t) => {
    if (!keycloakUrl(t)) return;
    const reader = await clientCredentials(issuer, 'reader');
    const denied = await call('/api/ci', reader.access_token);
    assert.equal(denied.status, 403);
    assert.equal(JSON.parse(denied.body).code, 'SG_ERR_POLICY_DENIED');
    const bot = await clientCredentials(issuer, 'ci-bot');
    assert.equal((await call('/api/ci', bot.access_token)).status, 200);
  });

  it('a client without the stepgate audience mapper gets 401 wrong_audience', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const admin = new KeycloakAdmin(kc);
    const clientId = uniqueName('no-audience');
    await admin.call('POST', '/platform/clients', {
      clientId,
      secret: 'no-audience-secret',
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
      defaultClientScopes: ['basic', 'roles'],
    });
    const { access_token: token } = await clientCredentials(issuer, clientId, { secret: 'no-audience-secret' });
    const res = await call('/api/orders/1', token);
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_WRONG_AUDIENCE');
  });
});
