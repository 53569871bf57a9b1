/**
 * Key rotation in the real Keycloak, picked up without a restart: a new active RSA key is added
 * to the realm and the old one disabled (as an operator rotates keys in the admin console). The
 * first token signed with the new key makes the gateway refetch the JWKS; the old key leaves it,
 * and tokens it signed stop verifying. Done in a realm of its own (a copy of the realm file), so
 * no other test sees the rotation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway } from '../support/gateway.ts';
import { claimsOf, clientCredentials, issuerOf, KeycloakAdmin, uniqueName } from '../support/keycloak.ts';
import { keycloakUrl } from '../support/services.ts';
import { testClock } from '../support/clock.ts';

interface Component {
  id: string;
  name: string;
  providerId: string;
  providerType: string;
  parentId: string;
  config: Record<string, string[]>;
}

const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()).kid as string;

describe('key rotation in Keycloak', () => {
  it('a new active key is used without a restart, and the disabled old key no longer verifies', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const admin = new KeycloakAdmin(kc);
    const realm = uniqueName('rotation');
    await admin.createRealmCopy(realm);
    const issuer = issuerOf(kc, realm);
    // The gateway's clock: its JWKS cooldown passes without waiting (Keycloak's clock decides nothing here).
    const clock = testClock();
    const gateway = await startGateway({
      issuers: [{ name: 'keycloak', issuer, audiences: ['stepgate'], preset: 'keycloak', jwksCooldownSeconds: 1 }],
      targets: { app: { type: 'http', url: 'http://127.0.0.1:1' } },
      // A route that answers without an upstream: the 403 shows the token verified.
      routes: [{ name: 'app', path: '/*', target: 'app', allow: { scopes: ['never-granted'] } }],
    }, { now: clock.now });
    const status = async (token: string) =>
      (await fetch(`${gateway.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status;
    try {
      const before = (await clientCredentials(issuer, 'reader')).access_token;
      assert.equal(await status(before), 403, 'verified with the first key');

      const { body: realmRep } = await admin.call<{ id: string }>('GET', `/${realm}`);
      const { body: components } = await admin.call<Component[]>(
        'GET',
        `/${realm}/components?type=org.keycloak.keys.KeyProvider`,
      );
      const old = components.find((c) => c.providerId === 'rsa-generated')!;
      await admin.call('POST', `/${realm}/components`, {
        name: 'rsa-rotated',
        providerId: 'rsa-generated',
        providerType: 'org.keycloak.keys.KeyProvider',
        parentId: realmRep.id,
        config: { priority: ['500'], keySize: ['2048'], active: ['true'], enabled: ['true'], algorithm: ['RS256'] },
      });
      await admin.call('PUT', `/${realm}/components/${old.id}`, {
        ...old,
        config: { ...old.config, active: ['false'], enabled: ['false'] },
      });

      const after = (await clientCredentials(issuer, 'reader')).access_token;
      assert.notEqual(kidOf(after), kidOf(before), 'Keycloak signs with the new key');
      clock.advance(1000); // one JWKS cooldown
      assert.equal(await status(after), 403, 'the new key was fetched on its first use: no restart');
      assert.equal(claimsOf(after)['iss'], issuer);
      assert.equal(await status(before), 401, 'the old key left the JWKS: its tokens are refused');
      const refusal = await fetch(`${gateway.url}/x`, { headers: { authorization: `Bearer ${before}` } });
      assert.equal(((await refusal.json()) as { code: string }).code, 'SG_ERR_INVALID_TOKEN');
    } finally {
      // The realm goes with this run's Keycloak; deleting it would only cost time.
      await gateway.close();
    }
  });
});
