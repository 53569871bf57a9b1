/**
 * RFC 7662 introspection against Keycloak's own endpoint. Keycloak's access tokens are JWTs, so
 * the issuer is configured with `introspection.tokens: all`: a token that verifies locally must
 * also still be active at Keycloak, and a token revoked there (RFC 7009) is refused here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway } from '../support/gateway.ts';
import { clientCredentials, clientSecret, issuerOf } from '../support/keycloak.ts';
import { keycloakUrl } from '../support/services.ts';

/** Revokes an access token at Keycloak (RFC 7009), as its client. */
async function revoke(issuer: string, clientId: string, token: string): Promise<void> {
  const res = await fetch(`${issuer}/protocol/openid-connect/revoke`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret(clientId)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  assert.equal(res.status, 200);
}

describe('introspection at Keycloak (tokens: all)', () => {
  it('allows an active token and refuses it once revoked at Keycloak', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const issuer = issuerOf(kc);
    const gateway = await startGateway({
      issuers: [
        {
          name: 'keycloak',
          issuer,
          audiences: ['stepgate'],
          preset: 'keycloak',
          // cacheSeconds 0: every request asks Keycloak, so the revocation shows at once.
          introspection: { clientId: 'stepgate', clientSecret: clientSecret('stepgate'), tokens: 'all', cacheSeconds: 0 },
        },
      ],
      targets: { app: { type: 'http', url: 'http://127.0.0.1:1' } },
      routes: [{ name: 'app', path: '/*', target: 'app', allow: { scopes: ['never-granted'] } }],
    });
    const call = async (token: string) => {
      const res = await fetch(`${gateway.url}/x`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as { code: string; detail: string } };
    };
    try {
      const { access_token: token } = await clientCredentials(issuer, 'ci-bot', { scope: 'orders:read' });
      assert.equal((await call(token)).status, 403, 'active at Keycloak: judged by the policy');
      await revoke(issuer, 'ci-bot', token);
      const refused = await call(token);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.code, 'SG_ERR_INVALID_TOKEN');
      assert.match(refused.body.detail, /not active/);
    } finally {
      await gateway.close();
    }
  });
});
