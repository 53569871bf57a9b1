import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp, type TestIdp } from '../support/idp.ts';
import { githubActionsClaims, issuerConfig, startIssuer, type TestIssuer } from '../support/issuer.ts';

describe('tokens from real token endpoints verify and map to an identity', () => {
  let keycloak: TestIdp;
  let okta: TestIdp;
  let github: TestIssuer;
  let verifier: ReturnType<typeof createBearerVerifier>;

  before(async () => {
    [keycloak, okta, github] = await Promise.all([
      startIdp({ preset: 'keycloak' }),
      startIdp({ preset: 'okta' }),
      startIssuer(),
    ]);
    verifier = createBearerVerifier(
      [
        issuerConfig({ name: 'keycloak', issuer: keycloak.issuer, preset: 'keycloak' }),
        issuerConfig({ name: 'okta', issuer: okta.issuer, preset: 'okta' }),
        issuerConfig({
          name: 'github',
          issuer: github.issuer,
          preset: 'github-actions',
          jwksUri: github.jwksUri,
        }),
      ],
      { fingerprintKey: 'test-fingerprint-key' },
    );
  });
  after(async () => {
    verifier.close();
    await Promise.all([keycloak.close(), okta.close(), github.close()]);
  });

  it('Keycloak-shaped client-credentials token', async () => {
    const id = await verifier.verify(await keycloak.getToken({ scope: 'orders:read deploy:start' }));
    assert.equal(id.issuer, 'keycloak');
    assert.equal(id.iss, keycloak.issuer);
    assert.equal(id.sub, keycloak.subjectOf('ci-bot'));
    assert.equal(id.clientId, 'ci-bot');
    assert.deepEqual(id.scopes, ['orders:read', 'deploy:start']);
    assert.deepEqual(id.roles, ['deployer', 'offline_access', 'stepgate:operator', 'account:view-profile']);
    assert.deepEqual(id.groups, ['platform']);
    assert.equal(id.claims['preferred_username'], 'service-account-ci-bot');
    assert.equal(id.authMethod, 'bearer');
    assert.equal(id.tokenId, id.claims.jti);
    assert.ok(id.expiresAt > Date.now() / 1000);
  });

  it('Okta-shaped client-credentials token', async () => {
    const id = await verifier.verify(await okta.getToken({ clientId: 'reader' }));
    assert.equal(id.issuer, 'okta');
    assert.equal(id.sub, 'reader');
    assert.equal(id.clientId, 'reader');
    assert.deepEqual(id.scopes, ['orders:read']);
    assert.deepEqual(id.groups, ['support']);
    assert.deepEqual(id.roles, []);
    assert.match(id.tokenId, /^AT\./);
  });

  it('GitHub-Actions-shaped token', async () => {
    const id = await verifier.verify(
      await github.sign(githubActionsClaims(), { typ: 'JWT', x5t: 'aGVsbG8' }),
    );
    assert.equal(id.issuer, 'github');
    assert.equal(id.sub, 'repo:acme/app:ref:refs/heads/main');
    assert.equal(id.clientId, 'acme/app/.github/workflows/deploy.yml@refs/heads/main');
    assert.deepEqual(id.scopes, []);
    assert.equal(id.claims['environment'], 'production');
  });

  it('a route restricted to other issuers refuses a valid token', async () => {
    const token = await okta.getToken();
    await assert.rejects(verifier.verify(token, ['keycloak']), { code: 'SG_ERR_WRONG_ISSUER' });
    assert.equal((await verifier.verify(token, ['keycloak', 'okta'])).issuer, 'okta');
  });

  it('a token of one issuer is never checked with another issuer’s keys', async () => {
    // Okta's key signs a token naming Keycloak: Keycloak's keys must be the only ones tried.
    const forged = await okta.signWithIdpKey({ iss: keycloak.issuer }, { kid: keycloak.key.kid });
    await assert.rejects(verifier.verify(forged), { code: 'SG_ERR_INVALID_TOKEN' });
  });

  it('is ready once every issuer’s keys were fetched', async () => {
    await verifier.warm();
    assert.equal(verifier.isReady(), true);
  });
});
