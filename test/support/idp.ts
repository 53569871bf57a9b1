/**
 * The embedded IdP (`src/dev/idp.ts`: oidc-provider in-process, Keycloak- or Okta-shaped tokens
 * from a real client-credentials request) on 127.0.0.1:0, plus what only tests need: outages,
 * request counters, and tokens signed with the IdP's own key for attacks.
 *
 *   const idp = await startIdp({ preset: 'keycloak' });   // http://127.0.0.1:PORT/realms/platform
 *   const token = await idp.getToken({ scope: 'orders:read' });
 *   ...
 *   await idp.close();
 */
import {
  type EmbeddedIdp,
  type IdpClient,
  type IdpPreset,
  type IdpUser,
  startEmbeddedIdp,
} from '../../src/dev/idp.ts';
import {
  AUDIENCE,
  createOutage,
  type Down,
  signToken,
  type TokenClaims,
  type TokenHeader,
} from './issuer.ts';

export type { IdpClient, IdpPreset, IdpUser };

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
  /** `opaque`: reference tokens, read through introspection (see `startEmbeddedIdp`). */
  readonly accessTokenFormat?: 'jwt' | 'opaque';
  /** Where the issuer lives (see `startEmbeddedIdp`). */
  readonly path?: string;
  /** Browser users (authorization code flow on oidc-provider's login and consent pages). */
  readonly users?: readonly IdpUser[];
}

/** `getToken`'s default client is the first one: `ci-bot` with all its scopes. */
export interface TestIdp extends EmbeddedIdp {
  /** Signs with the IdP's own private key (see `signToken` for the defaults), for attacks. */
  signWithIdpKey(payload?: TokenClaims, header?: TokenHeader): Promise<string>;
  /** `true`/`'503'`: every request answers 503; `'reset'`: connections destroyed; `'hang'`: no answer. */
  setDown(down: Down): void;
  jwksRequests(): number;
  /** Calls to the introspection endpoint (RFC 7662). */
  introspectionRequests(): number;
  discoveryRequests(): number;
  /** Tokens issued by grant type (`authorization_code`, `refresh_token`, …). */
  grants(grantType: string): number;
}

export async function startIdp(options: StartIdpOptions): Promise<TestIdp> {
  const outage = createOutage();
  let jwksCount = 0;
  let discoveryCount = 0;
  let introspectionCount = 0;
  const grantCounts = new Map<string, number>();
  const idp = await startEmbeddedIdp({
    ...options,
    clients: options.clients ?? DEFAULT_CLIENTS,
    audience: AUDIENCE,
    onGrant: (type) => grantCounts.set(type, (grantCounts.get(type) ?? 0) + 1),
    intercept(req, res) {
      // Counted before an outage answers: a refused fetch is still a fetch.
      const url = req.url ?? '/';
      if (url.endsWith('/jwks')) jwksCount++;
      if (url.endsWith('/.well-known/openid-configuration')) discoveryCount++;
      if (url.endsWith('/token/introspection')) introspectionCount++;
      return outage.intercept(req, res);
    },
  });
  return Object.assign(idp, {
    signWithIdpKey: (payload?: TokenClaims, header?: TokenHeader) =>
      signToken(idp.key, idp.issuer, payload, header),
    setDown: outage.setDown,
    jwksRequests: () => jwksCount,
    discoveryRequests: () => discoveryCount,
    introspectionRequests: () => introspectionCount,
    grants: (type: string) => grantCounts.get(type) ?? 0,
  });
}
