/**
 * Browser SSO stacks for tests: the embedded IdP with a browser client and two users, the echo
 * upstream, and the gateway with `sso` on a port known before it starts (the IdP must know the
 * redirect URI). Plus a cookie jar and a browserless login that walks oidc-provider's real login
 * and consent pages over HTTP, stopping at the callback so attacks can tamper with it.
 *
 *   const stack = await startSsoStack({ store: 'cookie' });
 *   const jar = new CookieJar();
 *   const callback = await loginUntilCallback(stack, jar, '/.stepgate/login?rd=/api/orders/1', ALICE);
 *   const landed = await jar.fetch(callback);   // 302 to /api/orders/1, session cookie set
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/upstream.ts';
import type { ExecutionsSource } from '../../src/routes/sso-page.ts';
import type { Clock } from '../../src/routes/websocket.ts';
import { startGateway, type TestGateway, waitReady } from './gateway.ts';
import { type IdpUser, startIdp, type TestIdp } from './idp.ts';

export const ALICE = { username: 'alice', password: 'alice-password' } as const;
export const BOB = { username: 'bob', password: 'bob-password' } as const;
/** Member of many groups: her tokens make a session cookie of several chunks. */
export const CAROL = { username: 'carol', password: 'carol-password' } as const;

export const USERS: readonly IdpUser[] = [
  {
    ...ALICE,
    name: 'Alice Liddell',
    email: 'alice@example.com',
    realmRoles: ['developer'],
    groups: ['engineering', 'oncall'],
    scope: 'orders:read orders:write',
  },
  {
    ...BOB,
    name: 'Bob',
    email: 'bob@example.com',
    realmRoles: ['viewer'],
    groups: ['support'],
    scope: 'orders:read',
  },
  {
    ...CAROL,
    email: 'carol@example.com',
    // A group name from a directory nobody sanitized, for the page's escaping.
    groups: [
      '<script>alert("group")</script>',
      ...Array.from(
        { length: 120 },
        (_, i) => `/departments/platform-engineering/team-${String(i).padStart(3, '0')}`,
      ),
    ],
    scope: 'orders:read',
  },
];

export const SSO_CLIENT = { clientId: 'stepgate', clientSecret: 'stepgate-client-secret' };
export const COOKIE_SECRET = 'test-cookie-secret-of-at-least-32-bytes!';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface SsoStackOptions {
  readonly store: 'cookie' | 'redis';
  /** Needed with `store: 'redis'`. */
  readonly redisUrl?: string | undefined;
  /** `localhost` makes the gateway another site than the IdP (127.0.0.1), as in real life. */
  readonly host?: 'localhost' | '127.0.0.1';
  readonly accessTokenTtlSeconds?: number;
  /** Extra `sso` keys (`sessionIdleSeconds`, …). */
  readonly sso?: Record<string, unknown>;
  /** Extra `redis` keys. */
  readonly redis?: Record<string, unknown>;
  /** What `/.stepgate/` lists as the caller's executions. */
  readonly executions?: ExecutionsSource;
  /** More targets and routes (after the stack's own). */
  readonly targets?: Record<string, unknown>;
  readonly routes?: readonly Record<string, unknown>[];
  /** The gateway's clock (sessions, WebSocket checks). */
  readonly clock?: Clock;
}

export interface SsoStack {
  readonly idp: TestIdp;
  readonly upstream: EchoUpstream;
  readonly gateway: TestGateway;
  /** `http://<host>:<port>`: the gateway's publicUrl. */
  readonly origin: string;
  /** The Redis key prefix of this stack (unique per stack). */
  readonly redisPrefix: string;
  /** Another gateway with the same config (same origin, Redis prefix, secret) on its own port. */
  startReplica(): Promise<TestGateway>;
  close(): Promise<void>;
}

/**
 * Routes: `orders-read` (GET /api/orders/*, bearer or session, scope orders:read),
 * `orders-write` (POST, scope orders:write), `support` (GET /api/support, group support),
 * `bearer-only` (GET /api/machines, bearer only).
 */
export async function startSsoStack(options: SsoStackOptions): Promise<SsoStack> {
  const port = await freePort();
  const origin = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const redisPrefix = `stepgate-test:${randomUUID()}:`;
  const [idp, upstream] = await Promise.all([
    startIdp({
      preset: 'keycloak',
      accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 300,
      users: USERS,
      clients: [
        {
          ...SSO_CLIENT,
          scope: 'orders:read orders:write',
          redirectUris: [`${origin}/.stepgate/callback`],
          postLogoutRedirectUris: [`${origin}/.stepgate/logged-out`],
          ...(options.store === 'redis'
            ? { backchannelLogoutUri: `${origin}/.stepgate/backchannel-logout` }
            : {}),
        },
        { clientId: 'ci-bot', clientSecret: 'ci-bot-secret', scope: 'orders:read orders:write' },
      ],
    }),
    startEchoUpstream(),
  ]);
  const document = {
    server: { port, publicUrl: origin },
    issuers: [{ name: 'keycloak', issuer: idp.issuer, audiences: ['stepgate'], preset: 'keycloak' }],
    sso: {
      issuer: 'keycloak',
      ...SSO_CLIENT,
      scopes: ['openid', 'profile', 'email', 'orders:read', 'orders:write'],
      cookieSecret: COOKIE_SECRET,
      store: options.store,
      ...options.sso,
    },
    ...(options.store === 'redis'
      ? { redis: { url: options.redisUrl, keyPrefix: redisPrefix, ...options.redis } }
      : {}),
    targets: {
      orders: { type: 'http', url: upstream.url, stripPrefix: '/api', timeoutMs: 2000 },
      ...options.targets,
    },
    routes: [
      {
        name: 'orders-read',
        path: '/api/orders/*',
        methods: ['GET', 'HEAD'],
        target: 'orders',
        auth: ['bearer', 'session'],
        allow: { scopes: ['orders:read'] },
      },
      {
        name: 'orders-write',
        path: '/api/orders/*',
        methods: ['POST', 'PUT', 'DELETE'],
        target: 'orders',
        auth: ['bearer', 'session'],
        allow: { scopes: ['orders:write'] },
      },
      {
        name: 'support',
        path: '/api/support',
        methods: ['GET'],
        target: 'orders',
        auth: ['session'],
        allow: { groups: ['support'] },
      },
      {
        name: 'bearer-only',
        path: '/api/machines',
        methods: ['GET'],
        target: 'orders',
        allow: { scopes: ['orders:read'] },
      },
      ...(options.routes ?? []),
    ],
    audit: { claims: ['email', 'preferred_username'] },
  };
  const deps = {
    ...(options.executions ? { executions: options.executions } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  };
  const gateway = await startGateway(document, deps);
  await waitReady(gateway);
  const replicas: TestGateway[] = [];
  return {
    idp,
    upstream,
    gateway,
    origin,
    redisPrefix,
    async startReplica() {
      const replica = await startGateway({ ...document, server: { publicUrl: origin } }, deps);
      replicas.push(replica);
      await waitReady(replica);
      return replica;
    },
    async close() {
      await Promise.all([gateway, ...replicas].map((g) => g.close()));
      await Promise.all([idp.close(), upstream.close()]);
    },
  };
}

/**
 * A browser's cookies, enough for these tests: host-only cookies by host name (ports share
 * cookies, as in browsers), `Max-Age=0` deletes, paths ignored.
 */
export class CookieJar {
  readonly #byHost = new Map<string, Map<string, string>>();

  get(host: string, name: string): string | undefined {
    return this.#byHost.get(host)?.get(name);
  }

  /** Every cookie of a host, by name. */
  all(host: string): Map<string, string> {
    return new Map(this.#byHost.get(host));
  }

  set(host: string, name: string, value: string): void {
    const cookies = this.#byHost.get(host) ?? new Map<string, string>();
    this.#byHost.set(host, cookies);
    cookies.set(name, value);
  }

  delete(host: string, name: string): void {
    this.#byHost.get(host)?.delete(name);
  }

  store(url: string, response: Response): void {
    const host = new URL(url).hostname;
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a),
      );
      if (expired || value === '') this.delete(host, name);
      else this.set(host, name, value);
    }
  }

  header(url: string): string {
    const cookies = this.#byHost.get(new URL(url).hostname);
    return cookies ? [...cookies].map(([n, v]) => `${n}=${v}`).join('; ') : '';
  }

  /** A request with this jar's cookies; never follows redirects; stores what comes back. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.header(url);
    if (cookie && !headers.has('cookie')) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(url, response);
    return response;
  }
}

const absolute = (location: string, base: string) => new URL(location, base).href;

/** The form on an oidc-provider interaction page: where it posts and which prompt it answers. */
function interactionForm(html: string): { action: string; prompt: string } | undefined {
  const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html)?.[1];
  const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
  return action && prompt ? { action: action.replaceAll('&amp;', '&'), prompt } : undefined;
}

/**
 * Starts at `start` (a gateway path or URL), follows redirects into the IdP, logs in as `user`
 * and consents, and returns the URL the IdP redirects to on the gateway (the callback), not
 * followed. Throws if the walk ends anywhere else.
 */
export async function loginUntilCallback(
  stack: { readonly origin: string },
  jar: CookieJar,
  start: string,
  user: { username: string; password: string },
): Promise<string> {
  let url = absolute(start, stack.origin);
  for (let step = 0; step < 20; step++) {
    const onGateway = url.startsWith(stack.origin);
    if (onGateway && new URL(url).pathname === '/.stepgate/callback') return url;
    const response = await jar.fetch(url, { headers: { accept: 'text/html' } });
    if (response.status >= 300 && response.status < 400) {
      url = absolute(response.headers.get('location') ?? '', url);
      continue;
    }
    const html = await response.text();
    const form = response.status === 200 ? interactionForm(html) : undefined;
    if (!form) throw new Error(`login walk stopped at ${url}: ${response.status} ${html.slice(0, 200)}`);
    const body =
      form.prompt === 'login'
        ? new URLSearchParams({ prompt: 'login', login: user.username, password: user.password })
        : new URLSearchParams({ prompt: form.prompt });
    const posted = await jar.fetch(absolute(form.action, url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body,
    });
    if (posted.status < 300 || posted.status >= 400) throw new Error(`IdP form answered ${posted.status}`);
    url = absolute(posted.headers.get('location') ?? '', url);
  }
  throw new Error('login walk did not reach the callback');
}

/** A whole browserless login: walks to the callback and completes it; returns the callback's answer. */
export async function login(
  stack: { readonly origin: string },
  jar: CookieJar,
  start: string,
  user: { username: string; password: string } = ALICE,
): Promise<Response> {
  const callback = await loginUntilCallback(stack, jar, start, user);
  return jar.fetch(callback, { headers: { accept: 'text/html' } });
}

/** The session cookie chunks a jar holds for `origin`, joined (to compare or tamper with). */
export function sessionCookies(jar: CookieJar, origin: string): Map<string, string> {
  const host = new URL(origin).hostname;
  return new Map([...jar.all(host)].filter(([name]) => name.startsWith('__Host-stepgate-session')));
}
