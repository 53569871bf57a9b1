/**
 * Browser login in headless Chromium through the real Keycloak's own login form: landing on the
 * URL asked for with the realm's roles and groups, a refresh across an access-token expiry (the
 * test realm's tokens live 10 s), RP-initiated logout, and OIDC back-channel logout: ending the
 * user's session in Keycloak (admin API) ends it at the gateway (`store: redis`).
 *
 * Each test logs in as a user of its own (a copy of the realm file's alice), so ending its
 * sessions touches nobody else's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import type { KeycloakAdmin } from '../support/keycloak.ts';
import { type KeycloakSsoStack, logInAtKeycloak, startKeycloakSsoStack } from '../support/keycloak-sso.ts';
import { chromiumPath, keycloakService, keycloakUrl, redisUrl } from '../support/services.ts';

let browser: Browser | undefined;
let stack: KeycloakSsoStack | undefined;

before(async () => {
  const kc = keycloakService();
  const redis = process.env['STEPGATE_TEST_REDIS_URL'];
  if (!kc || !redis || !process.env['STEPGATE_TEST_CHROMIUM']) return;
  browser = await launchChromium();
  stack = await startKeycloakSsoStack(kc, { store: 'redis', redisUrl: redis });
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

const echoed = async (page: Page) =>
  JSON.parse((await page.textContent('body')) ?? '{}') as { url: string; headers: Record<string, string> };

/** A fresh browser, a fresh user, logged in by visiting `path`; returns the page on it. */
async function logIn(admin: KeycloakAdmin, path: string) {
  const s = stack!;
  const user = await admin.createUser({ like: 'alice' });
  const context = await browser!.newContext();
  const page = await context.newPage();
  await page.goto(`${s.origin}${path}`);
  assert.ok(page.url().startsWith(s.issuer), `sent to Keycloak: ${page.url()}`);
  await Promise.all([page.waitForURL((url) => url.href.startsWith(s.origin)), logInAtKeycloak(page, user)]);
  return { user, context, page };
}

const ready = (t: Parameters<typeof keycloakUrl>[0]) =>
  Boolean(keycloakUrl(t) && redisUrl(t) && chromiumPath(t) && stack && browser);

describe('browser login through Keycloak', () => {
  it('lands on the URL asked for, with the realm roles and groups, and refreshes across expiry', async (t) => {
    if (!ready(t)) return;
    const s = stack!;
    const { user, context, page } = await logIn(s.admin, '/api/ops?tab=1');
    try {
      assert.equal(page.url(), `${s.origin}/api/ops?tab=1`);
      const first = await echoed(page);
      assert.equal(first.url, '/ops?tab=1');
      assert.equal(first.headers['x-stepgate-client'], s.clientId);
      assert.equal(first.headers['x-stepgate-groups'], 'engineering,oncall');
      const whoami = async () =>
        JSON.parse((await (await page.request.get(`${s.origin}/.stepgate/whoami`)).text())) as {
          preferredUsername: string;
          roles: string[];
          tokenExpiresAt: string;
        };
      const before = await whoami();
      assert.equal(before.preferredUsername, user.username);
      assert.ok(before.roles.includes('developer') && before.roles.includes('stepgate:operator'));

      // The access token (10 s in the test realm) expires; the next page load refreshes it.
      await page.waitForTimeout(Math.max(0, Date.parse(before.tokenExpiresAt) - Date.now()) + 500);
      await page.goto(`${s.origin}/api/orders/7`);
      assert.equal(page.url(), `${s.origin}/api/orders/7`, 'no login round trip');
      assert.equal((await echoed(page)).url, '/orders/7');
      const after = await whoami();
      assert.ok(Date.parse(after.tokenExpiresAt) > Date.parse(before.tokenExpiresAt), 'a new access token');
    } finally {
      await context.close();
    }
  });

  it('signs out here and at Keycloak (RP-initiated logout)', async (t) => {
    if (!ready(t)) return;
    const s = stack!;
    const { user, context, page } = await logIn(s.admin, '/api/orders/1');
    try {
      assert.equal((await s.admin.sessions(user.id)).length, 1);
      await page.goto(`${s.origin}/.stepgate/`);
      await Promise.all([
        page.waitForURL(`${s.origin}/.stepgate/logged-out**`),
        page.getByRole('button', { name: 'Sign out' }).click(),
      ]);
      assert.equal(await page.textContent('h1'), 'You are signed out');
      assert.deepEqual(await s.admin.sessions(user.id), [], 'the Keycloak session ended');
      await page.goto(`${s.origin}/api/orders/1`);
      assert.ok(page.url().startsWith(s.issuer), 'asked to log in again');
      await page.waitForSelector('#kc-form-login');
    } finally {
      await context.close();
    }
  });

  it('ending the session in Keycloak ends it at the gateway (back-channel logout)', async (t) => {
    if (!ready(t)) return;
    const s = stack!;
    const { user, context, page } = await logIn(s.admin, '/api/orders/2');
    try {
      assert.equal(page.url(), `${s.origin}/api/orders/2`);
      const [session] = await s.admin.sessions(user.id);
      await s.admin.endSession(session!.id);
      const logout = (await s.gateway.auditRecords()).find((r) => r.http.path === '/.stepgate/backchannel-logout');
      assert.equal(logout?.status, 200, 'Keycloak posted a logout token the gateway accepted');
      assert.match(s.gateway.logs.text(), /"ended":1[,}].*back-channel logout/);
      const res = await page.request.get(`${s.origin}/api/orders/2`, { maxRedirects: 0 });
      assert.equal(res.status(), 401, 'the session is gone');
      await page.goto(`${s.origin}/api/orders/2`);
      assert.ok(page.url().startsWith(s.issuer), 'a page load is sent to log in');
      await page.waitForSelector('#kc-form-login');
    } finally {
      await context.close();
    }
  });
});
