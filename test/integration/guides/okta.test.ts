/**
 * docs/okta.md, tried: its gateway config against oidc-provider shaped like an Okta custom
 * authorization server (`…/oauth2/default`, audience `api://stepgate`, `scp` array, `cid`,
 * `groups`), with client-credentials tokens from its token endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedIdp, startEmbeddedIdp } from '../../../src/dev/idp.ts';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { guideGatewayConfig } from '../../support/guides.ts';

let okta: EmbeddedIdp;
let upstream: EchoUpstream;
let gateway: TestGateway;

before(async () => {
  [okta, upstream] = await Promise.all([
    startEmbeddedIdp({
      preset: 'okta',
      audience: 'api://stepgate',
      clients: [
        { clientId: '0oa1deployer', clientSecret: 'deployer-secret', scope: 'orders:read deploy:start', groups: ['platform'] },
        { clientId: '0oa1reporter', clientSecret: 'reporter-secret', scope: 'orders:read', groups: ['support'] },
      ],
    }),
    startEchoUpstream(),
  ]);
  const config = JSON.parse(
    JSON.stringify(guideGatewayConfig('okta.md')).replaceAll('https://acme.okta.com/oauth2/default', okta.issuer),
  ) as Record<string, unknown> & { targets: Record<string, { url: string }> };
  config.targets['orders']!.url = upstream.url;
  gateway = await startGateway(config);
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await Promise.all([okta.close(), upstream.close()]);
});

const call = async (path: string, token: string, method = 'GET') => {
  const res = await fetch(gateway.url + path, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
};

describe('docs/okta.md, tried with Okta-shaped tokens', () => {
  it('reads orders with scp orders:read, and names the client by cid', async () => {
    const token = await okta.getToken({ clientId: '0oa1reporter', scope: 'orders:read' });
    const res = await call('/api/orders/1', token);
    assert.equal(res.status, 200, res.body);
    assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers['x-stepgate-client'], '0oa1reporter');
  });

  it('deploys with deploy:start and the platform group; refuses a client without them', async () => {
    const deployer = await okta.getToken({ clientId: '0oa1deployer' });
    assert.equal((await call('/api/deploy', deployer, 'POST')).status, 200);
    const reporter = await okta.getToken({ clientId: '0oa1reporter' });
    const refused = await call('/api/deploy', reporter, 'POST');
    assert.equal(refused.status, 403);
    assert.equal((JSON.parse(refused.body) as { code: string }).code, 'SG_ERR_INSUFFICIENT_SCOPE');
  });
});
