/**
 * The embedded IdP of `stepgate demo` (and of the tests): oidc-provider, a certified OpenID
 * Provider, in-process behind a plain `http.createServer`, with an issuer URL shaped like the
 * real thing and access tokens shaped like Keycloak's or Okta's. Tokens come from the token
 * endpoint (client credentials, RFC 6749 §4.4); they are JWTs (RFC 9068) because every client
 * asks, by default, for one resource (resource indicators, RFC 8707) whose audience is stepgate.
 *
 *   const idp = await startEmbeddedIdp({ preset: 'keycloak', clients, port: 8081 });
 *   // http://127.0.0.1:8081/realms/platform, token endpoint …/token, keys …/jwks
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations.
import Provider, { errors as oidcErrors } from 'oidc-provider';
// @ts-expect-error -- an internal module: a per-instance store, and no "dev adapter" warning.
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { createSigningKey, type SigningKey } from './signing-key.ts';

export type IdpPreset = 'keycloak' | 'okta';

/** A client-credentials client and the claims its tokens carry. */
export interface IdpClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Scopes it may ask for (space-separated); also what `getToken` asks for by default. */
  readonly scope: string;
  /** Token `sub`; default: a UUID derived from the client id (Keycloak), the client id (Okta). */
  readonly sub?: string;
  /** Keycloak `realm_access.roles`. */
  readonly realmRoles?: readonly string[];
  /** Keycloak `resource_access.<client>.roles`. */
  readonly clientRoles?: Readonly<Record<string, readonly string[]>>;
  readonly groups?: readonly string[];
  readonly email?: string;
  /** Browser login (authorization code) for this client, with these redirect URIs. */
  readonly redirectUris?: readonly string[];
  /** Where RP-initiated logout may send the browser back to (`post_logout_redirect_uris`). */
  readonly postLogoutRedirectUris?: readonly string[];
  /** OIDC Back-Channel Logout 1.0: where the IdP POSTs logout tokens (with `sid`). */
  readonly backchannelLogoutUri?: string;
}

/**
 * A person who logs in through a browser (authorization code flow) on oidc-provider's own login
 * and consent pages. Their tokens carry `sub` = `username` and these claims, shaped like the
 * preset's (Keycloak: `realm_access`, `resource_access`; Okta: `groups`).
 */
export interface IdpUser {
  readonly username: string;
  readonly password: string;
  readonly name?: string;
  readonly email?: string;
  readonly realmRoles?: readonly string[];
  readonly clientRoles?: Readonly<Record<string, readonly string[]>>;
  readonly groups?: readonly string[];
  /** Scopes this user may be granted; default: whatever the client may ask for. */
  readonly scope?: string;
}

export interface EmbeddedIdpOptions {
  readonly preset: IdpPreset;
  readonly clients: readonly IdpClient[];
  /**
   * Browser users. With users, only they can log in, and only with their password; without, any
   * login name is accepted (oidc-provider's development login).
   */
  readonly users?: readonly IdpUser[];
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /**
   * Where the issuer lives: default `/realms/platform` (keycloak), `/oauth2/default` (okta). A
   * trailing slash is part of the issuer (`/` makes `http://host:port/`, as some IdPs have).
   */
  readonly path?: string;
  /** The `aud` of every access token; default `stepgate`. */
  readonly audience?: string;
  /** Lifetime of access tokens (default 300 s). */
  readonly accessTokenTtlSeconds?: number;
  /**
   * `jwt` (default) or `opaque`: reference tokens that only the IdP's introspection endpoint
   * (RFC 7662, `<issuer>/token/introspection`, open to every confidential client) can read.
   */
  readonly accessTokenFormat?: 'jwt' | 'opaque';
  /** Sees every request first; returns true when it answered it (tests: outages, counters). */
  readonly intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Told the grant type of every token issued (tests count refreshes). */
  readonly onGrant?: (grantType: string) => void;
}

export interface EmbeddedIdp {
  readonly preset: IdpPreset;
  /** `http://127.0.0.1:PORT/realms/platform` (keycloak) or `…/oauth2/default` (okta). */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  /** The audience of every access token. */
  readonly audience: string;
  /** The current signing key. */
  readonly key: SigningKey;
  readonly clients: readonly IdpClient[];
  /** The `sub` of a client's tokens (Keycloak: a stable UUID; Okta: the client id). */
  subjectOf(clientId: string): string;
  /** A real client-credentials token request; default: the first client, with all its scopes. */
  getToken(options?: { clientId?: string; clientSecret?: string; scope?: string }): Promise<string>;
  /** A new signing key; the old one is gone from the JWKS (and issued tokens stop verifying). */
  rotateKeys(): Promise<SigningKey>;
  close(): Promise<void>;
}

const RESOURCE = 'urn:stepgate';
/** The form oidc-provider's login page posts to (`/interaction/:uid`). */
const INTERACTION = /^\/interaction\/[A-Za-z0-9_-]+$/;

export const DEFAULT_IDP_AUDIENCE = 'stepgate';

/** Keycloak service accounts have UUID subjects; keep them stable per client id. */
function uuidFor(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function subjectOf(preset: IdpPreset, client: IdpClient): string {
  return client.sub ?? (preset === 'keycloak' ? uuidFor(client.clientId) : client.clientId);
}

interface JwtToCustomize {
  header?: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Who a token is about: a client's service account, or a user who logged in. */
interface TokenSubject {
  readonly sub: string;
  readonly username: string;
  readonly email?: string | undefined;
  readonly realmRoles?: readonly string[] | undefined;
  readonly clientRoles?: Readonly<Record<string, readonly string[]>> | undefined;
  readonly groups?: readonly string[] | undefined;
  /** Scopes the subject may hold; others are removed from the token. */
  readonly scope?: string | undefined;
}

function serviceAccount(preset: IdpPreset, client: IdpClient): TokenSubject {
  return { ...client, sub: subjectOf(preset, client), username: `service-account-${client.clientId}` };
}

function userSubject(user: IdpUser): TokenSubject {
  return { ...user, sub: user.username };
}

/** Rewrites oidc-provider's RFC 9068 token into the provider's own shape. */
function shapeToken(preset: IdpPreset, client: IdpClient, who: TokenSubject, jwt: JwtToCustomize): void {
  const { payload } = jwt;
  let scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [];
  if (who.scope !== undefined) {
    const allowed = new Set(who.scope.split(' '));
    scopes = scopes.filter((s) => allowed.has(s));
    payload['scope'] = scopes.join(' ');
  }
  if (preset === 'keycloak') {
    jwt.header = { typ: 'JWT' };
    Object.assign(payload, {
      sub: who.sub,
      typ: 'Bearer',
      azp: client.clientId,
      preferred_username: who.username,
      email: who.email,
      email_verified: who.email !== undefined,
      realm_access: { roles: [...(who.realmRoles ?? [])] },
      resource_access: Object.fromEntries(
        Object.entries(who.clientRoles ?? {}).map(([name, roles]) => [name, { roles: [...roles] }]),
      ),
      ...(who.groups ? { groups: [...who.groups] } : {}),
    });
  } else {
    // Okta: no typ header, `scp` array instead of `scope`, `cid` instead of `client_id`.
    jwt.header = { typ: undefined };
    const { scope: _scope, client_id: _clientId, ...rest } = payload;
    jwt.payload = Object.assign(rest, {
      ver: 1,
      jti: `AT.${String(payload['jti'])}`,
      sub: who.sub,
      cid: client.clientId,
      scp: scopes,
      ...(who.groups ? { groups: [...who.groups] } : {}),
    });
  }
}

function providerConfig(options: EmbeddedIdpOptions, audience: string, key: SigningKey) {
  const { clients, users } = options;
  const byId = new Map(clients.map((c) => [c.clientId, c]));
  const byUsername = new Map((users ?? []).map((u) => [u.username, u]));
  const allScopes = new Set(clients.flatMap((c) => c.scope.split(' ')));
  const ttl = options.accessTokenTtlSeconds ?? 300;
  const browser = clients.some((c) => c.redirectUris);
  return {
    adapter: createMemoryAdapter(0),
    jwks: { keys: [key.privateJwk satisfies JWK] },
    clients: clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      scope: ['openid', 'profile', 'email', 'offline_access', c.scope].join(' '),
      grant_types: c.redirectUris
        ? ['client_credentials', 'authorization_code', 'refresh_token']
        : ['client_credentials'],
      response_types: c.redirectUris ? ['code'] : [],
      redirect_uris: [...(c.redirectUris ?? [])],
      post_logout_redirect_uris: [...(c.postLogoutRedirectUris ?? [])],
      ...(c.backchannelLogoutUri
        ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true }
        : {}),
    })),
    scopes: ['openid', 'profile', 'email', 'offline_access', ...allScopes],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    findAccount: (_ctx: unknown, sub: string) => {
      const user = byUsername.get(sub);
      // With users configured, anyone else has no account: the login page is shown again.
      if (users && !user) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          email: user ? user.email : `${sub}@example.com`,
          email_verified: true,
          preferred_username: sub,
          name: user?.name ?? sub,
        }),
      };
    },
    ttl: {
      ClientCredentials: ttl,
      AccessToken: ttl,
      IdToken: 3600,
      RefreshToken: 8 * 3600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
    // Keycloak issues a refresh token with every code exchange (no offline_access needed), and
    // this IdP rotates it on every use (Okta's default): a refresh token replayed after a
    // rotation fails with invalid_grant, as it would there.
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    // oidc-provider refuses outgoing requests (back-channel logout) to loopback addresses, as
    // SSRF protection; this IdP and the gateway it calls both live on loopback.
    fetch: (url: string, { dispatcher: _dispatcher, ...init }: RequestInit & { dispatcher?: unknown }) =>
      globalThis.fetch(url, init),
    features: {
      // The login form oidc-provider brings; only when a client logs in through a browser.
      devInteractions: { enabled: browser },
      backchannelLogout: { enabled: clients.some((c) => c.backchannelLogoutUri) },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: options.accessTokenFormat === 'opaque',
        allowedPolicy: (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod !== 'none',
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string, client: { clientId: string }) => {
          if (indicator !== RESOURCE) throw new oidcErrors.InvalidTarget();
          return {
            scope: byId.get(client.clientId)?.scope ?? '',
            audience,
            accessTokenFormat: options.accessTokenFormat ?? 'jwt',
            accessTokenTTL: ttl,
            jwt: { sign: { alg: key.alg } },
          };
        },
      },
    },
    formats: {
      customizers: {
        jwt: (_ctx: unknown, token: { clientId: string; accountId?: string }, jwt: JwtToCustomize) => {
          const client = byId.get(token.clientId);
          if (!client) return;
          const user = token.accountId === undefined ? undefined : byUsername.get(token.accountId);
          const who = user
            ? userSubject(user)
            : token.accountId !== undefined
              ? { sub: token.accountId, username: token.accountId }
              : serviceAccount(options.preset, client);
          shapeToken(options.preset, client, who, jwt);
        },
      },
    },
  };
}

/**
 * oidc-provider's development login accepts any password. With users, the login form's POST is
 * checked here first: a wrong password shows the login page again; a right one is handed on with
 * its body, which oidc-provider then reads as usual.
 */
async function checkPassword(
  req: IncomingMessage,
  res: ServerResponse,
  users: ReadonlyMap<string, IdpUser>,
  loginPage: string,
): Promise<boolean> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16_384) {
      res.writeHead(413).end();
      return false;
    }
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const form = new URLSearchParams(body.toString('utf8'));
  if (form.get('prompt') === 'login') {
    const user = users.get(form.get('login') ?? '');
    const given = Buffer.from(form.get('password') ?? '');
    const expected = Buffer.from(user?.password ?? '');
    const ok = user !== undefined && given.length === expected.length && timingSafeEqual(given, expected);
    if (!ok) {
      // Back to the same interaction: oidc-provider renders its login form again.
      res.writeHead(303, { location: loginPage }).end();
      return false;
    }
  }
  // The body was read here; oidc-provider reads it again through `readable` and `iterator`.
  Object.defineProperties(req, {
    readable: { value: true, configurable: true },
    iterator: {
      value: async function* () {
        yield body;
      },
      configurable: true,
    },
  });
  return true;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Listens on `host:port`; rejects (EADDRINUSE …) instead of throwing later. */
async function listen(handler: Handler, host: string, port: number) {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        // Also ends kept-alive and unanswered requests, so callers exit promptly.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startEmbeddedIdp(options: EmbeddedIdpOptions): Promise<EmbeddedIdp> {
  const { preset, clients } = options;
  const path = options.path ?? (preset === 'keycloak' ? '/realms/platform' : '/oauth2/default');
  const host = options.host ?? '127.0.0.1';
  const audience = options.audience ?? DEFAULT_IDP_AUDIENCE;
  let key = await createSigningKey('RS256');
  let handle: Handler | undefined;
  const users = new Map((options.users ?? []).map((u) => [u.username, u]));
  const mount = path.replace(/\/$/, '');

  const server = await listen(
    (req, res) => {
      if (options.intercept?.(req, res)) return;
      const url = req.url ?? '/';
      if (!handle || (url !== mount && !url.startsWith(`${mount}/`) && !url.startsWith(`${mount}?`))) {
        res.writeHead(404).end();
        return;
      }
      // What a mount does: oidc-provider derives its URLs from originalUrl minus url.
      Object.assign(req, { originalUrl: url, url: url.slice(mount.length) || '/' });
      const serve = handle;
      if (users.size > 0 && req.method === 'POST' && INTERACTION.test(req.url ?? '')) {
        checkPassword(req, res, users, url).then(
          (ok) => {
            if (ok) serve(req, res);
          },
          () => res.destroy(),
        );
        return;
      }
      serve(req, res);
    },
    host,
    options.port ?? 0,
  );
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}${path}`;

  const boot = (): void => {
    const provider = new Provider(issuer, providerConfig(options, audience, key));
    provider.on('grant.success', (ctx: { oidc: { params: { grant_type?: string } } }) => {
      options.onGrant?.(ctx.oidc.params.grant_type ?? '');
    });
    handle = provider.callback();
  };
  boot();

  const clientOf = (clientId: string): IdpClient | undefined => clients.find((c) => c.clientId === clientId);

  return {
    preset,
    issuer,
    jwksUri: `${issuer.replace(/\/$/, '')}/jwks`,
    tokenEndpoint: `${issuer.replace(/\/$/, '')}/token`,
    audience,
    get key() {
      return key;
    },
    clients,
    subjectOf(clientId) {
      const client = clientOf(clientId);
      if (!client) throw new Error(`no client ${clientId}`);
      return subjectOf(preset, client);
    },
    async getToken({ clientId = clients[0]?.clientId ?? '', clientSecret, scope } = {}) {
      const client = clientOf(clientId);
      const secret = clientSecret ?? client?.clientSecret ?? '';
      const response = await fetch(`${issuer.replace(/\/$/, '')}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: scope ?? client?.scope ?? '' }),
      });
      const body = (await response.json()) as {
        access_token?: string;
        error?: string;
        error_description?: string;
      };
      if (!response.ok || !body.access_token) {
        throw new Error(
          `token request failed: ${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`,
        );
      }
      return body.access_token;
    },
    async rotateKeys() {
      key = await createSigningKey('RS256');
      boot();
      return key;
    },
    close: server.close,
  };
}
