/**
 * Opaque access tokens (RFC 7662) against oidc-provider's introspection endpoint: the IdP issues
 * reference tokens, and only its endpoint can say whose they are. Allowed and refused by the same
 * presets and policy as JWTs; active results cached until `exp` (bounded), inactive ones briefly,
 * and shared between replicas through Redis; an unreachable endpoint is a 503, never a pass.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { DEFAULT_CLIENTS, startIdp, type TestIdp } from '../../support/idp.ts';
import { redisUrl } from '../../support/services.ts';

const INTROSPECTOR = { clientId: 'gateway', clientSecret: 'gateway-secret', scope: '' };

let idp: TestIdp;
let upstream: EchoUpstream;
let gateway: TestGateway;

const document = (extra: Record<string, unknown> = {}) => ({
  issuers: [
    {
      name: 'opaque',
      issuer: idp.issuer,
      audiences: ['stepgate'],
      preset: 'keycloak',
      introspection: { clientId: INTROSPECTOR.clientId, clientSecret: INTROSPECTOR.clientSecret },
    },
  ],
  targets: { orders: { type: 'http', url: upstream.url, stripPrefix: '/api' } },
  routes: [
    { name: 'read', path: '/api/orders/*', target: 'orders', allow: { scopes: ['orders:read'] } },
    { name: 'write', path: '/api/orders/*', methods: ['POST'], target: 'orders', allow: { scopes: ['orders:write'] } },
  ],
  ...extra,
});

before(async () => {
  [idp, upstream] = await Promise.all([
    startIdp({ preset: 'keycloak', accessTokenFormat: 'opaque', clients: [...DEFAULT_CLIENTS, INTROSPECTOR] }),
    startEchoUpstream(),
  ]);
  gateway = await startGateway(document());
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await Promise.all([idp.close(), upstream.close()]);
});

const call = async (g: TestGateway, token: string, method = 'GET') => {
  const res = await fetch(`${g.url}/api/orders/1`, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text(), requestId: res.headers.get('x-request-id')! };
};

describe('opaque access tokens (RFC 7662 introspection)', () => {
  it('are what oidc-provider issues here: not a JWT', async () => {
    const token = await idp.getToken({ clientId: 'ci-bot' });
    assert.equal(token.split('.').length, 1);
  });

  it('an active token is allowed by its scopes, and its result is cached', async () => {
    const token = await idp.getToken({ clientId: 'ci-bot' });
    const calls = idp.introspectionRequests();
    const res = await call(gateway, token);
    assert.equal(res.status, 200, res.body);
    // oidc-provider's answer has no `sub` for a client-credentials token: its client is the subject.
    assert.equal(JSON.parse(res.body).headers['x-stepgate-subject'], 'ci-bot');
    const record = await gateway.auditFor(res.requestId);
    assert.equal(record.caller?.issuer, 'opaque');
    assert.equal(record.caller?.clientId, 'ci-bot');
    assert.match(record.caller?.tokenId ?? '', /^fp:|^[A-Za-z0-9_-]+$/);
    assert.ok(!JSON.stringify(record).includes(token), 'the token is never written');
    assert.equal((await call(gateway, token)).status, 200);
    assert.equal(idp.introspectionRequests(), calls + 1, 'one introspection for two requests');
  });

  it('the same policy refuses a token without the scope with 403', async () => {
    const token = await idp.getToken({ clientId: 'reader' });
    const res = await call(gateway, token, 'POST');
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_INSUFFICIENT_SCOPE');
  });

  it('an unknown token is 401 (active: false), and asking again within the negative cache costs nothing', async () => {
    const token = `forged-${randomUUID()}`;
    const calls = idp.introspectionRequests();
    const res = await call(gateway, token);
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_INVALID_TOKEN');
    assert.match(JSON.parse(res.body).detail, /not active/);
    assert.equal((await call(gateway, token)).status, 401);
    assert.equal(idp.introspectionRequests(), calls + 1);
  });

  it('is shared through Redis: a second replica does not ask again', async (t) => {
    const url = redisUrl(t);
    if (!url) return;
    const redis = { url, keyPrefix: `stepgate-test:${randomUUID()}:` };
    const [a, b] = [await startGateway(document({ redis })), await startGateway(document({ redis }))];
    try {
      const token = await idp.getToken({ clientId: 'ci-bot' });
      const calls = idp.introspectionRequests();
      assert.equal((await call(a, token)).status, 200);
      assert.equal((await call(b, token)).status, 200);
      assert.equal(idp.introspectionRequests(), calls + 1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('cannot be made active by a write to Redis: a forged entry, or another token’s sealed one moved over', async (t) => {
    const url = redisUrl(t);
    if (!url) return;
    const redis = { url, keyPrefix: `stepgate-test:${randomUUID()}:` };
    const gw = await startGateway(document({ redis }));
    const client = new Redis(url, { keyPrefix: redis.keyPrefix });
    const keyOf = (token: string) => `introspection:${createHash('sha256').update(token).digest('base64url')}`;
    try {
      const good = await idp.getToken({ clientId: 'ci-bot' });
      assert.equal((await call(gw, good)).status, 200);
      const sealedActive = await client.get(keyOf(good));
      assert.ok(sealedActive, 'the active answer is shared through Redis');
      const forged = JSON.stringify({ active: true, claims: { iss: idp.issuer, sub: 'root', aud: 'stepgate', scope: 'orders:read', exp: 9_999_999_999 } });
      for (const [what, value] of [['a forged entry', forged], ['a sealed entry of another token', sealedActive]] as const) {
        const unknown = `unknown-${randomUUID()}`;
        await client.set(keyOf(unknown), value);
        const calls = idp.introspectionRequests();
        const res = await call(gw, unknown);
        assert.equal(res.status, 401, what);
        assert.equal(JSON.parse(res.body).code, 'SG_ERR_INVALID_TOKEN', what);
        assert.equal(idp.introspectionRequests(), calls + 1, `${what}: the IdP is asked instead`);
      }
    } finally {
      client.disconnect();
      await gw.close();
    }
  });

  it('an introspection endpoint that fails is a 503 naming the issuer in the log, never a pass', async () => {
    const token = await idp.getToken({ clientId: 'ci-bot' });
    idp.setDown('503');
    try {
      const res = await call(gateway, token);
      assert.equal(res.status, 503);
      assert.equal(JSON.parse(res.body).code, 'SG_ERR_IDP_UNAVAILABLE');
      assert.match(gateway.logs.text(), /"issuer":"opaque".*"cause":"http_status"/);
    } finally {
      idp.setDown(false);
    }
  });

  it('without introspection, an opaque token is refused as not a JWT', async () => {
    const plain = await startGateway({
      ...document(),
      issuers: [{ name: 'opaque', issuer: idp.issuer, audiences: ['stepgate'] }],
    });
    try {
      const res = await call(plain, await idp.getToken({ clientId: 'ci-bot' }));
      assert.equal(res.status, 401);
      assert.match(JSON.parse(res.body).detail, /not a JWT/);
    } finally {
      await plain.close();
    }
  });
});
