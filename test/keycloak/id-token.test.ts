/**
 * The ID token of a browser login is checked by the gateway itself: its signature with the
 * issuer's keys, and its algorithm against the issuer's allow-list (`issuers[].algorithms`).
 * Keycloak advertises every algorithm it can sign with (HS256 among them) and signs a client's
 * ID tokens with whichever that client is set to; one set to PS256 is refused by a gateway that
 * allows RS256 and ES256, with a page that names the algorithm.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeycloakAdmin } from '../support/keycloak.ts';
import { keycloakLoginUntilCallback, startKeycloakSsoStack } from '../support/keycloak-sso.ts';
import { keycloakUrl } from '../support/services.ts';
import { CookieJar } from '../support/sso.ts';

describe('the ID token of a Keycloak login', () => {
  for (const [alg, allowed] of [
    ['RS256', true],
    ['PS256', false],
  ] as const) {
    it(`signed with ${alg} is ${allowed ? 'accepted' : 'refused'} when the issuer allows RS256 and ES256`, async (t) => {
      const kc = keycloakUrl(t);
      if (!kc) return;
      const stack = await startKeycloakSsoStack(kc, {
        store: 'cookie',
        clientAttributes: { 'id.token.signed.response.alg': alg },
      });
      try {
        const user = await new KeycloakAdmin(kc).createUser();
        const jar = new CookieJar();
        const callback = await keycloakLoginUntilCallback(jar, stack.origin, '/.stepgate/login?rd=/api/orders/1', user);
        const res = await jar.fetch(callback, { headers: { accept: 'text/html' } });
        if (allowed) {
          assert.equal(res.status, 302, await res.text());
          assert.equal(res.headers.get('location'), `${stack.origin}/api/orders/1`);
          return;
        }
        assert.equal(res.status, 400);
        const html = await res.text();
        assert.match(html, /<h1>Sign-in failed<\/h1>/);
        assert.match(html, /signed with PS256, which issuer &quot;keycloak&quot; does not allow/);
        const record = await stack.gateway.auditFor(res.headers.get('x-request-id')!);
        assert.equal(record.reason, 'login_failed');
        assert.ok(![...jar.all('localhost').keys()].some((name) => name.startsWith('__Host-stepgate-session')), 'no session');
      } finally {
        await stack.close();
      }
    });
  }
});
