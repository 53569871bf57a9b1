/**
 * docs/keycloak.md, held to the realm file and tried against the real Keycloak: every client,
 * client scope, role, group and user of `deploy/keycloak/stepgate-realm.json` is in the guide,
 * and the guide's gateway config (bearer routes; the browser parts are what
 * browser-login.test.ts does) answers its "Try it" commands as the guide says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/upstream.ts';
import { startGateway } from '../support/gateway.ts';
import { guide, guideGatewayConfig } from '../support/guides.ts';
import { clientCredentials, issuerOf, realmFile } from '../support/keycloak.ts';
import { keycloakUrl } from '../support/services.ts';

describe('docs/keycloak.md', () => {
  it('names everything the realm file defines', () => {
    const text = guide('keycloak.md');
    const realm = realmFile() as unknown as {
      clients: { clientId: string }[];
      clientScopes: { name: string }[];
      roles: { realm: { name: string }[]; client: Record<string, { name: string }[]> };
      groups: { name: string }[];
      users: { username: string }[];
    };
    const names = [
      ...realm.clients.map((c) => c.clientId),
      ...realm.clientScopes.map((s) => s.name).filter((n) => !['profile', 'email', 'web-origins', 'acr', 'service_account', 'offline_access'].includes(n)),
      ...realm.roles.realm.map((r) => r.name),
      ...Object.entries(realm.roles.client).flatMap(([client, roles]) => roles.map((r) => `${client}:${r.name}`)),
      ...realm.groups.map((g) => g.name),
      ...realm.users.map((u) => u.username).filter((u) => !u.startsWith('service-account-')),
    ];
    for (const name of names) assert.ok(text.includes(`\`${name}\``), `the guide names \`${name}\``);
  });

  it('its gateway config answers the guide’s commands as it says', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const issuer = issuerOf(kc);
    let upstream: EchoUpstream | undefined;
    const config = guideGatewayConfig('keycloak.md') as Record<string, unknown> & {
      issuers: { issuer: string }[];
      targets: Record<string, { url: string }>;
      routes: { auth?: string[] }[];
    };
    try {
      upstream = await startEchoUpstream();
      config.issuers[0]!.issuer = issuer;
      config.targets['orders']!.url = upstream.url;
      // The browser half (sso, redis) is tried by browser-login.test.ts with a client of its own.
      delete config['sso'];
      delete config['redis'];
      delete config['server'];
      for (const route of config.routes) route.auth = ['bearer'];
      const gateway = await startGateway(config);
      try {
        const bot = await clientCredentials(issuer, 'ci-bot', { scope: 'deploy:start' });
        const deploy = await fetch(`${gateway.url}/api/deploy`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bot.access_token}` },
        });
        assert.equal(deploy.status, 200);
        const reader = await clientCredentials(issuer, 'reader');
        const write = await fetch(`${gateway.url}/api/orders/1`, {
          method: 'POST',
          headers: { authorization: `Bearer ${reader.access_token}` },
        });
        assert.equal(write.status, 403);
        assert.equal(((await write.json()) as { code: string }).code, 'SG_ERR_INSUFFICIENT_SCOPE');
      } finally {
        await gateway.close();
      }
    } finally {
      await upstream?.close();
    }
  });
});
