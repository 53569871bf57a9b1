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
import { createHash } from 'node:crypto';
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
}

export interface EmbeddedIdpOptions {
  readonly preset: IdpPreset;
  readonly clients: readonly IdpClient[];
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Where the issuer lives: default `/realms/platform` (keycloak), `/oauth2/default` (okta). */
  readonly path?: string;
  /** The `aud` of every access token; default `stepgate`. */
  readonly audience?: string;
  /** Lifetime of access tokens (default 300 s). */
  readonly accessTokenTtlSeconds?: number;
  /** Sees every request first; returns true when it answered it (tests: outages, counters). */
  readonly intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
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

function providerConfig(options: EmbeddedIdpOptions, audience: string, key: SigningKey) {
  const { clients } = options;
  const byId = new Map(clients.map((c) => [c.clientId, c]));
  const allScopes = new Set(clients.flatMap((c) => c.scope.split(' ')));
  const ttl = options.accessTokenTtlSeconds ?? 300;
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
    ttl: { ClientCredentials: ttl, AccessToken: ttl },
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
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ttl,
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

  const server = await listen(
    (req, res) => {
      if (options.intercept?.(req, res)) return;
      const url = req.url ?? '/';
      if (!handle || (url !== path && !url.startsWith(`${path}/`) && !url.startsWith(`${path}?`))) {
        res.writeHead(404).end();
        return;
      }
      // What a mount does: oidc-provider derives its URLs from originalUrl minus url.
      Object.assign(req, { originalUrl: url, url: url.slice(path.length) || '/' });
      handle(req, res);
    },
    host,
    options.port ?? 0,
  );
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}${path}`;

  const boot = (): void => {
    const provider = new Provider(issuer, providerConfig(options, audience, key));
    handle = provider.callback();
  };
  boot();

  const clientOf = (clientId: string): IdpClient | undefined => clients.find((c) => c.clientId === clientId);

  return {
    preset,
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
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
    async rotateKeys() {
      key = await createSigningKey('RS256');
      boot();
      return key;
    },
    close: server.close,
  };
}
