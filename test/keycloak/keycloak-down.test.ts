/**
 * Keycloak stopped, as the gateway sees it: the gateway reaches the real Keycloak through a TCP
 * forwarder, and stopping the forwarder makes Keycloak's port refuse connections exactly as a
 * stopped Keycloak's would (without stopping the Keycloak other tests share). Tokens signed with
 * keys the gateway already holds still pass; a new login is a page that says the identity
 * provider cannot be reached; the log names the issuer, the URL and the cause, once per outage,
 * and the recovery once; `/readyz` says which issuer and why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clientCredentials, issuerOf } from '../support/keycloak.ts';
import { type KeycloakSsoStack, startKeycloakSsoStack } from '../support/keycloak-sso.ts';
import { keycloakService, keycloakUrl } from '../support/services.ts';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder.ts';
import { testClock } from '../support/clock.ts';

let forwarder: TcpForwarder;
let stack: KeycloakSsoStack;
/** The gateway's clock: its JWKS cooldown and log rate limit pass without waiting. */
const clock = testClock();

before(async () => {
  const kc = keycloakService();
  if (!kc) return;
  forwarder = await startTcpForwarder(Number(new URL(kc.url).port));
  // Refetch quickly, so the outage is tried (and logged) within the test.
  stack = await startKeycloakSsoStack(kc, {
    store: 'cookie',
    keycloakBase: forwarder.url,
    issuerConfig: { jwksCooldownSeconds: 1 },
    now: clock.now,
  });
});

after(async () => {
  await stack?.close();
  await forwarder?.close();
});

/** The token with another `kid`: the gateway does not know it and asks Keycloak for its keys. */
const withUnknownKid = (token: string) =>
  token.replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'rotated-away' })).toString('base64url'));

const readyz = async () => {
  const res = await fetch(`${stack.gateway.adminUrl}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { issuers: Record<string, { ready: boolean; error?: { cause: string; url: string } }> },
  };
};

describe('Keycloak stopped', () => {
  it('tokens with known keys pass, new logins get a clear page, the log and /readyz say why', async (t) => {
    if (!keycloakUrl(t)) return;
    const issuer = issuerOf({ url: forwarder.url });
    assert.equal(stack.issuer, issuer);
    // Through the forwarder: the token's iss is the forwarder's address, as configured.
    const { access_token: token } = await clientCredentials(issuer, 'reader');
    const call = () =>
      fetch(`${stack.gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await call()).status, 403, 'verified (reader lacks the developer role): keys are in');
    assert.equal((await readyz()).status, 200);

    await forwarder.stop();
    try {
      assert.equal((await call()).status, 403, 'still verified with the keys held');
      // An unknown kid makes the gateway ask Keycloak (once per 1 s cooldown here): refused.
      clock.advance(1000);
      const forged = withUnknownKid(token);
      const refused = await fetch(`${stack.gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${forged}` } });
      assert.equal(refused.status, 401);

      const page = await fetch(`${stack.origin}/.stepgate/login?rd=/api/orders/1`, {
        headers: { accept: 'text/html' },
        redirect: 'manual',
      });
      assert.equal(page.status, 503);
      const html = await page.text();
      assert.match(html, /<h1>Sign-in is unavailable<\/h1>/);
      assert.match(html, /connection refused/);

      const ready = await readyz();
      assert.equal(ready.status, 200, 'ready: the keys it holds still verify');
      assert.equal(ready.body.issuers['keycloak']?.error?.cause, 'refused');
      assert.ok(ready.body.issuers['keycloak']?.error?.url.startsWith(forwarder.url));

      clock.advance(1000);
      await fetch(`${stack.gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${forged}` } });
      const failures = stack.gateway.logs
        .lines<{ msg: string; issuer?: string; cause?: string; url?: string }>()
        .filter((l) => l.issuer === 'keycloak' && l.cause === 'refused');
      assert.ok(failures.length >= 1, 'the outage is logged with its cause');
      assert.equal(
        failures.filter((l) => /failed:/.test(l.msg)).length,
        1,
        'once when it starts; repeats are rate-limited',
      );
      assert.ok(failures[0]!.url?.startsWith(forwarder.url));
    } finally {
      await forwarder.start();
    }
    // Back: the next fetch succeeds and the recovery is logged once.
    clock.advance(1000);
    await fetch(`${stack.gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${withUnknownKid(token)}` } });
    const recovered = stack.gateway.logs.lines<{ msg: string; issuer?: string }>().filter((l) => /recovered/.test(l.msg));
    assert.equal(recovered.length, 1);
    assert.equal((await readyz()).body.issuers['keycloak']?.error, undefined);
  });
});
