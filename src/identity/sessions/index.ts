/**
 * Browser SSO, assembled from the config's `sso` (and `redis`) sections: the OIDC client, the
 * session store and manager, the login-cookie sealer and the back-channel logout verifier.
 */
import type { Config, IssuerConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import { createIssuerKeys } from '../issuer-keys.ts';
import { createLogoutTokenVerifier, type LogoutRequest } from '../logout-token.ts';
import type { ProviderMonitor } from '../provider-monitor.ts';
import { createSsoClient, type SsoClient } from '../sso.ts';
import type { BearerVerifier } from '../verify-bearer.ts';
import { createCookieSessionStore } from './cookie-store.ts';
import { createSessionManager, type SessionManager } from './manager.ts';
import { createRedisSessionStore } from './redis-store.ts';
import { createSealer, deriveKey, type Sealer } from './seal.ts';
import { type SessionStore, SessionStoreUnavailable } from './types.ts';

export interface BrowserSso {
  readonly client: SsoClient;
  readonly sessions: SessionManager;
  /** Seals login cookies (a key of its own, derived from `cookieSecret`). */
  readonly loginSealer: Sealer;
  readonly issuer: IssuerConfig;
  /** The gateway's origin (`server.publicUrl`): redirects, the callback, the `Origin` check. */
  readonly origin: string;
  /** True the first time `key` is seen within `ttlSeconds`; a store failure is a 503. */
  consumeOnce(key: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Verifies a back-channel Logout Token and ends the sessions it names; `undefined` when the
   * store keeps no server-side sessions (`store: cookie`), where back-channel logout is off.
   */
  readonly backchannelLogout: ((logoutToken: string) => Promise<number>) | undefined;
  close(): Promise<void>;
}

export interface BrowserSsoOptions {
  readonly verifier: Pick<BearerVerifier, 'verify'>;
  /** Logs the issuer's discovery failures (rate-limited, per issuer). */
  readonly monitor?: ProviderMonitor | undefined;
  readonly now?: () => number;
}

const unavailable = (err: unknown) =>
  err instanceof SessionStoreUnavailable
    ? new GatewayError('SG_ERR_SESSION_STORE_UNAVAILABLE', 'the session store cannot be reached', {
        cause: err,
      })
    : err;

/** Misuse, not a request error: the config's cross-checks already refuse these. */
function ssoParts(config: Config) {
  const sso = config.sso;
  const issuer = config.issuers.find((i) => i.name === sso?.issuer);
  if (!sso || !issuer || !config.server.publicUrl)
    throw new TypeError('sso needs its issuer and server.publicUrl');
  if (sso.store === 'redis' && !config.redis) throw new TypeError('sso.store redis needs the redis section');
  return { sso, issuer, origin: new URL(config.server.publicUrl).origin };
}

export function createBrowserSso(config: Config, options: BrowserSsoOptions): BrowserSso {
  const { sso, issuer, origin } = ssoParts(config);
  const store: SessionStore =
    sso.store === 'redis' && config.redis
      ? createRedisSessionStore({
          url: config.redis.url,
          keyPrefix: config.redis.keyPrefix,
          sessionTtlMs: sso.sessionTtlSeconds * 1000,
          ...(options.now ? { now: options.now } : {}),
        })
      : createCookieSessionStore(options.now ? { now: options.now } : {});
  // The issuer's keys, for ID tokens and logout tokens (the bearer verifier has its own).
  const keys = createIssuerKeys(issuer, { now: options.now });
  const client = createSsoClient({
    issuer,
    keys,
    onDiscoveryError: (error) => options.monitor?.failed(issuer.name, error),
    clientId: sso.clientId,
    clientSecret: sso.clientSecret,
    scopes: sso.scopes,
    redirectUri: `${origin}/.stepgate/callback`,
  });
  const sessions = createSessionManager({
    store,
    sso: client,
    verifier: options.verifier,
    issuer: issuer.name,
    sealer: createSealer(deriveKey(sso.cookieSecret, 'session cookie v1')),
    ttlSeconds: sso.sessionTtlSeconds,
    idleSeconds: sso.sessionIdleSeconds,
    ...(options.now ? { now: options.now } : {}),
  });
  const consumeOnce = async (key: string, ttlSeconds: number) => {
    try {
      return await store.consumeOnce(key, ttlSeconds);
    } catch (err) {
      throw unavailable(err);
    }
  };

  let backchannelLogout: BrowserSso['backchannelLogout'];
  if (store.endSessions) {
    const endSessions = store.endSessions.bind(store);
    const verify = createLogoutTokenVerifier({
      issuer,
      clientId: sso.clientId,
      keys,
      consumeOnce,
      now: options.now,
    });
    backchannelLogout = async (token) => {
      const request: LogoutRequest = await verify(token);
      try {
        // §2.7: with a `sid`, that IdP session's sessions; with only a `sub`, all of the user's.
        return await endSessions(
          request.sid ? { issuer: issuer.name, sid: request.sid } : { issuer: issuer.name, sub: request.sub },
        );
      } catch (err) {
        throw unavailable(err);
      }
    };
  }

  return {
    client,
    sessions,
    loginSealer: createSealer(deriveKey(sso.cookieSecret, 'login cookie v1')),
    issuer,
    origin,
    consumeOnce,
    backchannelLogout,
    async close() {
      keys.close();
      await store.close();
    },
  };
}
