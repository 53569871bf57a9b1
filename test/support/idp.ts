/**
 * A real OpenID Provider for tests: oidc-provider (certified) in-process, behind a plain
 * `http.createServer` on 127.0.0.1:0, with an issuer URL shaped like the real thing and access
 * tokens shaped like Keycloak's or Okta's. Tokens come from a real POST to the token endpoint
 * (client credentials, RFC 6749 §4.4); JWT access tokens via resource indicators (RFC 8707).
 *
 *   const idp = await startIdp({ preset: 'keycloak' });   // http://127.0.0.1:PORT/realms/platform
 *   const token = await idp.getToken({ scope: 'orders:read' });
 *   ...
 *   await idp.close();
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations.
import Provider, { errors as oidcErrors } from 'oidc-provider';
// @ts-expect-error -- an internal module: a per-instance store, and no "dev adapter" warning.
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import {
  AUDIENCE,
  createOutage,
  createSigningKey,
  type Down,
  listen,
  type SigningKey,
  signToken,
  type TokenClaims,
  type TokenHeader,
} from './issuer.ts';

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
}

export const DEFAULT_CLIENTS: readonly IdpClient[] = [
  {
    clientId: 'ci-bot',
    clientSecret: 'ci-bot-secret',
    scope: 'orders:read orders:write deploy:start',
    realmRoles: ['deployer', 'offline_access'],
    clientRoles: { stepgate: ['operator'], account: ['view-profile'] },
    groups: ['platform'],
    email: 'ci-bot@example.com',
  },
  {
    clientId: 'reader',
    clientSecret: 'reader-secret',
    scope: 'orders:read',
    realmRoles: ['viewer'],
    groups: ['support'],
    email: 'reader@example.com',
  },
];

export interface StartIdpOptions {
  readonly preset: IdpPreset;
  readonly clients?: readonly IdpClient[];
  /** Lifetime of access tokens (default 300 s). */
  readonly accessTokenTtlSeconds?: number;
}

export interface TestIdp {
  readonly preset: IdpPreset;
  /** `http://127.0.0.1:PORT/realms/platform` (keycloak) or `…/oauth2/default` (okta). */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  /** The audience of every access token: `stepgate`. */
  readonly audience: string;
  /** The current signing key (its `publicPem` is the HS256-confusion secret). */
  readonly key: SigningKey;
  readonly clients: readonly IdpClient[];
  /** The `sub` of a client's tokens (Keycloak: a stable UUID; Okta: the client id). */
  subjectOf(clientId: string): string;
  /** A real client-credentials token request; default client `ci-bot` with all its scopes. */
  getToken(options?: { clientId?: string; clientSecret?: string; scope?: string }): Promise<string>;
  /** Signs with the IdP's own private key (see `signToken` for the defaults), for attacks. */
  signWithIdpKey(payload?: TokenClaims, header?: TokenHeader): Promise<string>;
  /** A new signing key; the old one is gone from the JWKS. */
  rotateKeys(): Promise<SigningKey>;
  /** `true`/`'503'`: every request answers 503; `'reset'`: connections destroyed; `'hang'`: no answer. */
  setDown(down: Down): void;
  jwksRequests(): number;
  discoveryRequests(): number;
  close(): Promise<void>;
}

const RESOURCE = 'urn:stepgate';

/** Keycloak service accounts have UUID subjects; keep them stable per client id. */
function uuidFor(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The `sub` of a client's tokens. */
function subjectOf(preset: IdpPreset, client: IdpClient): string {
  return client.sub ?? (preset === 'keycloak' ? uuidFor(client.clientId) : client.clientId);
}

interface JwtToCustomize {
  header?: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Rewrites oidc-provider's RFC 9068 token into the provider's own shape. */
function shapeToken(preset: IdpPreset, client: IdpClient, jwt: JwtToCustomize): void {
  const { payload } = jwt;
  const scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [];
  if (preset === 'keycloak') {
    jwt.header = { typ: 'JWT' };
    Object.assign(payload, {
      sub: subjectOf(preset, client),
      typ: 'Bearer',
      azp: client.clientId,
      preferred_username: `service-account-${client.clientId}`,
      email: client.email,
      email_verified: client.email !== undefined,
      realm_access: { roles: [...(client.realmRoles ?? [])] },
      resource_access: Object.fromEntries(
        Object.entries(client.clientRoles ?? {}).map(([name, roles]) => [name, { roles: [...roles] }]),
      ),
      ...(client.groups ? { groups: [...client.groups] } : {}),
    });
  } else {
    // Okta: no typ header, `scp` array instead of `scope`, `cid` instead of `client_id`.
    jwt.header = { typ: undefined };
    const { scope: _scope, client_id: _clientId, ...rest } = payload;
    jwt.payload = Object.assign(rest, {
      ver: 1,
      jti: `AT.${String(payload['jti'])}`,
      sub: subjectOf(preset, client),
      cid: client.clientId,
      scp: scopes,
      ...(client.groups ? { groups: [...client.groups] } : {}),
    });
  }
}

function providerConfig(options: StartIdpOptions, key: SigningKey) {
  const clients = options.clients ?? DEFAULT_CLIENTS;
  const byId = new Map(clients.map((c) => [c.clientId, c]));
  const allScopes = new Set(clients.flatMap((c) => c.scope.split(' ')));
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
    })),
    scopes: ['openid', 'profile', 'email', 'offline_access', ...allScopes],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({
        sub,
        email: `${sub}@example.com`,
        email_verified: true,
        preferred_username: sub,
        name: sub,
      }),
    }),
    ttl: {
      ClientCredentials: options.accessTokenTtlSeconds ?? 300,
      AccessToken: options.accessTokenTtlSeconds ?? 300,
    },
    features: {
      // The login form oidc-provider brings; only when a client logs in through a browser.
      devInteractions: { enabled: clients.some((c) => c.redirectUris) },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string, client: { clientId: string }) => {
          if (indicator !== RESOURCE) throw new oidcErrors.InvalidTarget();
          return {
            scope: byId.get(client.clientId)?.scope ?? '',
            audience: AUDIENCE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: options.accessTokenTtlSeconds ?? 300,
            jwt: { sign: { alg: key.alg } },
          };
        },
      },
    },
    formats: {
      customizers: {
        jwt: (_ctx: unknown, token: { clientId: string }, jwt: JwtToCustomize) => {
          const client = byId.get(token.clientId);
          if (client) shapeToken(options.preset, client, jwt);
        },
      },
    },
  };
}

export async function startIdp(options: StartIdpOptions): Promise<TestIdp> {
  const path = options.preset === 'keycloak' ? '/realms/platform' : '/oauth2/default';
  const clients = options.clients ?? DEFAULT_CLIENTS;
  const outage = createOutage();
  let key = await createSigningKey('RS256');
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let jwksCount = 0;
  let discoveryCount = 0;

  const server = await listen((req, res) => {
    const url = req.url ?? '/';
    if (url === `${path}/jwks`) jwksCount++;
    if (url === `${path}/.well-known/openid-configuration`) discoveryCount++;
    if (outage.intercept(req, res)) return;
    if (!handle || (url !== path && !url.startsWith(`${path}/`) && !url.startsWith(`${path}?`))) {
      res.writeHead(404).end();
      return;
    }
    // What a mount does: oidc-provider derives its URLs from originalUrl minus url.
    Object.assign(req, { originalUrl: url, url: url.slice(path.length) || '/' });
    handle(req, res);
  });
  const issuer = `http://127.0.0.1:${server.port}${path}`;

  const boot = (): void => {
    const provider = new Provider(issuer, providerConfig(options, key));
    handle = provider.callback();
  };
  boot();

  return {
    preset: options.preset,
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    audience: AUDIENCE,
    get key() {
      return key;
    },
    clients,
    subjectOf(clientId) {
      const client = clients.find((c) => c.clientId === clientId);
      if (!client) throw new Error(`no client ${clientId}`);
      return subjectOf(options.preset, client);
    },
    async getToken({ clientId = 'ci-bot', clientSecret, scope } = {}) {
      const client = clients.find((c) => c.clientId === clientId);
      const secret = clientSecret ?? client?.clientSecret ?? '';
      const response = await fetch(`${issuer}/token`, {
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
    signWithIdpKey: (payload, header) => signToken(key, issuer, payload, header),
    async rotateKeys() {
      key = await createSigningKey('RS256');
      boot();
      return key;
    },
    setDown: outage.setDown,
    jwksRequests: () => jwksCount,
    discoveryRequests: () => discoveryCount,
    close: server.close,
  };
}
