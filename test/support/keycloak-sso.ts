/**
 * A gateway with browser SSO against the real Keycloak: a login client of its own (a copy of the
 * realm file's `stepgate` client with this gateway's URIs), the echo upstream, and the gateway on
 * `http://localhost:PORT` (another site than Keycloak on 127.0.0.1, as in real life).
 *
 *   const stack = await startKeycloakSsoStack(kc, { store: 'redis', redisUrl });
 *   await page.goto(`${stack.origin}/api/orders/1`);   // → Keycloak's login form
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/upstream.ts';
import { startGateway, type TestGateway } from './gateway.ts';
import { issuerOf, KeycloakAdmin } from './keycloak.ts';
import type { KeycloakService } from './services.ts';
import { COOKIE_SECRET, type CookieJar, freePort } from './sso.ts';

export interface KeycloakSsoOptions {
  readonly store: 'cookie' | 'redis';
  readonly redisUrl?: string | undefined;
  /** Where the gateway reaches Keycloak (a forwarder in front of it); default Keycloak itself. */
  readonly keycloakBase?: string;
  /** The configured issuer URL, when a test wants it to differ from Keycloak's. */
  readonly issuer?: string;
  /** Extra keys of the issuer's config. */
  readonly issuerConfig?: Record<string, unknown>;
  /** Attributes of the login client at Keycloak (e.g. its ID token algorithm). */
  readonly clientAttributes?: Record<string, string>;
  /** The gateway's clock (`GatewayDeps.now`). */
  readonly now?: () => number;
}

export interface KeycloakSsoStack {
  readonly gateway: TestGateway;
  readonly upstream: EchoUpstream;
  readonly admin: KeycloakAdmin;
  /** `http://localhost:PORT`: the gateway's publicUrl. */
  readonly origin: string;
  /** The issuer the gateway is configured with. */
  readonly issuer: string;
  readonly clientId: string;
  close(): Promise<void>;
}

/**
 * Routes: `orders` (GET /api/orders/*, bearer or session, realm role developer), `ops`
 * (GET /api/ops, session, client role stepgate:operator and group oncall).
 */
export async function startKeycloakSsoStack(
  kc: KeycloakService,
  options: KeycloakSsoOptions,
): Promise<KeycloakSsoStack> {
  const admin = new KeycloakAdmin(kc);
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const issuer = options.issuer ?? issuerOf({ url: options.keycloakBase ?? kc.url });
  const [client, upstream] = await Promise.all([
    admin.createSsoClient({
      origin,
      backchannelOrigin: `http://127.0.0.1:${port}`,
      ...(options.clientAttributes ? { attributes: options.clientAttributes } : {}),
    }),
    startEchoUpstream(),
  ]);
  const gateway = await startGateway({
    server: { port, publicUrl: origin },
    issuers: [{ name: 'keycloak', issuer, audiences: ['stepgate'], preset: 'keycloak', ...options.issuerConfig }],
    sso: {
      issuer: 'keycloak',
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      scopes: ['openid', 'profile', 'email', 'orders:read'],
      cookieSecret: COOKIE_SECRET,
      store: options.store,
    },
    ...(options.store === 'redis' ? { redis: { url: options.redisUrl, keyPrefix: `stepgate-test:${randomUUID()}:` } } : {}),
    targets: { orders: { type: 'http', url: upstream.url, stripPrefix: '/api', timeoutMs: 5000 } },
    routes: [
      {
        name: 'orders',
        path: '/api/orders/*',
        target: 'orders',
        auth: ['bearer', 'session'],
        allow: { roles: ['developer'], scopes: ['orders:read'] },
      },
      {
        name: 'ops',
        path: '/api/ops',
        target: 'orders',
        auth: ['session'],
        allow: { roles: ['stepgate:operator'], groups: ['oncall'] },
      },
    ],
    audit: { claims: ['preferred_username', 'email'] },
  }, options.now ? { now: options.now } : {});
  return {
    gateway,
    upstream,
    admin,
    origin,
    issuer,
    clientId: client.clientId,
    async close() {
      await gateway.close();
      await upstream.close();
      await admin.call('GET', `/platform/clients?clientId=${client.clientId}`).then(async ({ body }) => {
        const [found] = body as { id: string }[];
        if (found) await admin.call('DELETE', `/platform/clients/${found.id}`);
      }).catch(() => undefined);
    },
  };
}

/** Fills Keycloak's own login form (theme keycloak.v2) and submits it. */
export async function logInAtKeycloak(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.waitForSelector('#kc-form-login');
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  await page.click('#kc-login');
}

/**
 * A browserless login through Keycloak's login form over HTTP: starts at `start` on the gateway,
 * follows redirects to Keycloak, posts the form, and returns the callback URL Keycloak sends the
 * browser to (not followed), so a test can look at what the gateway answers it.
 */
export async function keycloakLoginUntilCallback(
  jar: CookieJar,
  origin: string,
  start: string,
  user: { username: string; password: string },
): Promise<string> {
  let url = new URL(start, origin).href;
  for (let step = 0; step < 10; step++) {
    if (url.startsWith(origin) && new URL(url).pathname === '/.stepgate/callback') return url;
    const response = await jar.fetch(url, { headers: { accept: 'text/html' } });
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get('location') ?? '', url).href;
      continue;
    }
    const html = await response.text();
    const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`login walk stopped at ${url}: ${response.status} ${html.slice(0, 300)}`);
    const posted = await jar.fetch(action.replaceAll('&amp;', '&'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ username: user.username, password: user.password, credentialId: '' }),
    });
    if (posted.status < 300 || posted.status >= 400) throw new Error(`Keycloak's form answered ${posted.status}`);
    url = new URL(posted.headers.get('location') ?? '', url).href;
  }
  throw new Error('login walk did not reach the callback');
}
