/**
 * End to end in headless Chromium, against oidc-provider's real login and consent pages: a page
 * load without a session goes to the IdP, the user logs in and consents, and lands on the URL
 * they asked for; the page's own fetch calls an API with the session; `/.stepgate/` shows who
 * they are (and is screenshotted into docs/); the session survives its access token's expiry
 * through a refresh; a cross-origin form post is refused; logout ends the session here and at
 * the IdP. Run once per session store.
 *
 * The gateway is `http://localhost:PORT` and the IdP `http://127.0.0.1:PORT`: two sites, as in
 * real life, so `SameSite=Lax` is exercised on the way back from the IdP.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import type { ExecutionsSource } from '../../src/routes/sso-page.ts';
import { chromiumPath, redisUrl } from '../support/services.ts';
import { ALICE, freePort, type SsoStack, startSsoStack } from '../support/sso.ts';

const TTL_SECONDS = 4;
const DOCS = join(import.meta.dirname, '..', '..', 'docs');
const SCREENSHOT = join(DOCS, 'sso-page.png');

/** What a Step Functions target would report; the page only renders what it is given. */
const EXECUTIONS: ExecutionsSource = {
  async recentExecutions(caller) {
    if (caller !== 'keycloak/alice') return [];
    const arn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:deploy:${name}`;
    return [
      {
        executionArn: arn('web-4f1c'),
        name: 'web-4f1c',
        workflow: 'deploy',
        status: 'RUNNING',
        startDate: '2026-11-23T09:41:00Z',
        statusUrl: `/executions/${encodeURIComponent(arn('web-4f1c'))}`,
      },
      {
        executionArn: arn('api-9b2e'),
        name: 'api-9b2e',
        workflow: 'deploy',
        status: 'SUCCEEDED',
        startDate: '2026-11-23T08:12:00Z',
        stopDate: '2026-11-23T08:19:30Z',
      },
      {
        executionArn: arn('db-migrate-17'),
        name: 'db-migrate-17',
        workflow: 'migrate',
        status: 'FAILED',
        startDate: '2026-11-22T17:03:00Z',
        stopDate: '2026-11-22T17:04:12Z',
      },
    ];
  },
};

let browser: Browser | undefined;

before(async () => {
  browser = await launchChromium();
});
after(() => browser?.close());

/** Logs in on the IdP's pages: the login form, then the consent form. */
async function logInAtIdp(page: Page, stack: SsoStack): Promise<void> {
  assert.ok(page.url().startsWith(stack.idp.issuer), `at the IdP: ${page.url()}`);
  assert.equal(await page.textContent('h1'), 'Sign-in');
  await page.fill('input[name=login]', ALICE.username);
  await page.fill('input[name=password]', ALICE.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('input[name=prompt][value=consent]', { state: 'attached' });
  assert.equal(await page.textContent('h1'), 'Authorize');
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(stack.origin)),
    page.click('button[type=submit]'),
  ]);
}

const echoed = async (page: Page) =>
  JSON.parse((await page.textContent('body')) ?? '{}') as {
    url: string;
    headers: Record<string, string>;
  };

function flow(store: 'cookie' | 'redis') {
  return async (t: TestContext) => {
    if (!chromiumPath(t)) return;
    const redis = store === 'redis' ? redisUrl(t) : undefined;
    if (store === 'redis' && !redis) return;
    const stack = await startSsoStack({
      store,
      redisUrl: redis,
      host: 'localhost',
      accessTokenTtlSeconds: TTL_SECONDS,
      executions: EXECUTIONS,
    });
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      // 1. A page load without a session: to the IdP, log in, land on the URL asked for.
      await page.goto(`${stack.origin}/api/orders/42?tab=items`);
      await logInAtIdp(page, stack);
      assert.equal(page.url(), `${stack.origin}/api/orders/42?tab=items`);
      const first = await echoed(page);
      assert.equal(first.url, '/orders/42?tab=items');
      assert.equal(first.headers['x-stepgate-subject'], 'alice');
      const cookies = await context.cookies(stack.origin);
      const session = cookies.filter((c) => c.name.startsWith('__Host-stepgate-session'));
      assert.ok(session.length > 0);
      for (const c of session) {
        assert.equal(c.httpOnly, true);
        assert.equal(c.secure, true);
        assert.equal(c.sameSite, 'Lax');
        assert.equal(c.path, '/');
      }
      assert.ok(!cookies.some((c) => c.name.startsWith('__Host-stepgate-login')), 'the login cookie is gone');

      // 2. The page's own script calls an API with the session (same origin: Origin is sent).
      const status = await page.evaluate(async () => {
        const res = await fetch('/api/orders/7', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"qty":1}',
        });
        return res.status;
      });
      assert.equal(status, 200);

      // 3. The page: who you are, groups, scopes, executions, a logout button; no token.
      await page.goto(`${stack.origin}/.stepgate/`);
      assert.equal(await page.textContent('h1'), 'Signed in as alice');
      const html = await page.content();
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(html), 'no JWT in the page');
      assert.deepEqual(await page.locator('ul[aria-labelledby=groups] li').allTextContents(), [
        'engineering',
        'oncall',
      ]);
      assert.deepEqual(await page.locator('ul[aria-labelledby=scopes] li').allTextContents(), [
        'orders:read',
        'orders:write',
      ]);
      assert.equal(await page.locator('section[aria-labelledby=executions] tbody tr').count(), 3);
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible());
      // The screenshot in docs/ is written when missing, or on request (it differs every run).
      if (store === 'cookie' && (!existsSync(SCREENSHOT) || process.env['STEPGATE_SCREENSHOT'] === '1')) {
        mkdirSync(DOCS, { recursive: true });
        await page.setViewportSize({ width: 1000, height: 900 });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
      }

      // 4. The access token expires; the next request refreshes it and carries on.
      const refreshesBefore = stack.idp.grants('refresh_token');
      await page.waitForTimeout(TTL_SECONDS * 1000 + 300);
      await page.goto(`${stack.origin}/api/orders/43`);
      assert.equal(page.url(), `${stack.origin}/api/orders/43`, 'no login round trip');
      assert.equal((await echoed(page)).headers['x-stepgate-subject'], 'alice');
      assert.equal(stack.idp.grants('refresh_token'), refreshesBefore + 1);

      // 5. A form on another origin of the same site posts with the session cookie: 403 csrf.
      const evil = await crossOriginForm(stack.origin);
      try {
        const before = stack.upstream.received.length;
        await page.goto(evil.url);
        await page.waitForURL(`${stack.origin}/api/orders/1`);
        assert.match((await page.textContent('body')) ?? '', /SG_ERR_CSRF/);
        assert.equal(stack.upstream.received.length, before);
      } finally {
        await evil.close();
      }

      // 6. Logout: here, then at the IdP (its confirmation page), then back to a signed-out page.
      await page.goto(`${stack.origin}/.stepgate/`);
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(stack.idp.issuer)),
        page.getByRole('button', { name: 'Sign out' }).click(),
      ]);
      await Promise.all([
        page.waitForURL(`${stack.origin}/.stepgate/logged-out**`),
        page.click('button[name=logout]'),
      ]);
      assert.equal(await page.textContent('h1'), 'You are signed out');
      assert.ok(
        !(await context.cookies(stack.origin)).some((c) => c.name.startsWith('__Host-stepgate-session')),
      );
      await page.goto(`${stack.origin}/api/orders/42`);
      assert.ok(page.url().startsWith(stack.idp.issuer), 'the IdP session ended too: asked to log in');
      assert.equal(await page.textContent('h1'), 'Sign-in');
    } finally {
      await context.close();
      await stack.close();
    }
  };
}

/** A page on `http://localhost:OTHER` (same site, other origin) that posts a form to the gateway. */
async function crossOriginForm(origin: string) {
  const port = await freePort();
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<!doctype html><form id="f" method="post" action="${origin}/api/orders/1"><input name="qty" value="1000"></form><script>document.getElementById('f').submit()</script>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://localhost:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('browser SSO in Chromium', () => {
  it(
    'logs in, uses the session, shows the page, refreshes, refuses CSRF, logs out (cookie store)',
    flow('cookie'),
  );
  it(
    'logs in, uses the session, shows the page, refreshes, refuses CSRF, logs out (redis store)',
    flow('redis'),
  );
});
