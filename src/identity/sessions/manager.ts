/**
 * Browser sessions: what a session cookie is worth on a request. The cookie is sealed
 * (AES-256-GCM, key from `cookieSecret` through HKDF, fresh nonce per write) and chunked; the
 * store keeps the record (in the cookie itself, or in Redis).
 *
 * A session's identity is its access token's: verified at every request exactly as a bearer
 * token would be (signature, `iss`, `aud`, `exp`, `typ`), and read by the issuer's preset. So a
 * session identity has the same scopes, roles and groups as the same token sent as a bearer, and
 * goes through the same policy. (The ID token is meant for the gateway as a client, not as a
 * resource server: Keycloak puts neither scopes nor roles in it. It is checked at login, where
 * its `sub` must equal the access token's, and kept for `id_token_hint` and its `sid`.)
 *
 * Lifetime: an absolute time-out (`sessionTtlSeconds` from login) and an idle time-out
 * (`sessionIdleSeconds` since the last request); the access token is refreshed shortly before
 * it expires, with one refresh in flight per session (per process here, across replicas in the
 * Redis store). A refused refresh token ends the session; an IdP that cannot be reached keeps
 * a still-valid token in use and is a 503 once it is not.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GatewayError, isGatewayError } from '../../errors.ts';
import type { SsoClient, TokenSet } from '../sso.ts';
import type { Identity } from '../types.ts';
import type { BearerVerifier } from '../verify-bearer.ts';
import { clearChunked, chunkCount, readChunked, SESSION_COOKIE, writeChunked } from './cookies.ts';
import type { Sealer } from './seal.ts';
import { type SessionRecord, type SessionStore, SessionStoreUnavailable } from './types.ts';

export interface SessionManagerOptions {
  readonly store: SessionStore;
  readonly sso: Pick<SsoClient, 'refresh'>;
  /** Session tokens are verified exactly as bearer tokens are. */
  readonly verifier: Pick<BearerVerifier, 'verify'>;
  /** The `sso` issuer's config name. */
  readonly issuer: string;
  /** Seals the session cookie (`createSealer(deriveKey(cookieSecret, …))`). */
  readonly sealer: Sealer;
  readonly ttlSeconds: number;
  readonly idleSeconds: number;
  readonly now?: () => number;
}

export type SessionState =
  /** The request carries no session cookie. */
  | { readonly kind: 'none' }
  /** It carried one that is no longer (or never was) good: the cookie is deleted. */
  | { readonly kind: 'ended'; readonly error: GatewayError; readonly setCookie: readonly string[] }
  | {
    readonly kind: 'active';
    readonly identity: Identity;
    readonly record: SessionRecord;
    /** Cookie updates (a refresh, the idle clock); empty when nothing changed. */
    readonly setCookie: readonly string[];
  };

export interface SessionManager {
  /** True when the request carries a session cookie (valid or not). */
  hasSession(cookies: ReadonlyMap<string, string>): boolean;
  /**
   * The session of a request. `allowedIssuers` is the route's `issuers`, if any. Throws 503s
   * (`SG_ERR_SESSION_STORE_UNAVAILABLE`, `SG_ERR_IDP_UNAVAILABLE`), never an ended session.
   */
  resume(cookies: ReadonlyMap<string, string>, allowedIssuers?: readonly string[]): Promise<SessionState>;
  /**
   * A new session from a login's tokens, always under a new id; the request's previous session,
   * if any, is ended. Throws `SG_ERR_LOGIN_FAILED` when the access token is not one this gateway
   * accepts, or names another subject than the ID token.
   */
  start(
    tokens: TokenSet,
    cookies: ReadonlyMap<string, string>,
  ): Promise<{ identity: Identity; setCookie: string[] }>;
  /** Ends the request's session; returns what it held (for RP-initiated logout). */
  end(cookies: ReadonlyMap<string, string>): Promise<{ record?: SessionRecord; setCookie: string[] }>;
}

/** Refresh no later than this before expiry (or a quarter of a short token's lifetime). */
const REFRESH_MARGIN_MS = 60_000;
/** How often the idle clock is written (a cookie or a Redis write per session, at most). */
const TOUCH_INTERVAL_MS = 60_000;
/** How long a refreshed record serves requests that still carry the cookie from before it. */
const RECENT_MS = 30_000;

const storeError = (err: unknown) =>
  err instanceof SessionStoreUnavailable
    ? new GatewayError('SG_ERR_SESSION_STORE_UNAVAILABLE', 'the session store cannot be reached', {
        cause: err,
      })
    : err;

/** A session before its first tokens. */
type NewSession = Omit<
  SessionRecord,
  'accessToken' | 'accessExpiresAt' | 'refreshedAt' | 'refreshToken' | 'idToken'
>;

const fingerprint = (token: string) => createHash('sha256').update(token).digest('base64url').slice(0, 22);

export function createSessionManager(options: SessionManagerOptions): SessionManager {
  const { store, sealer, issuer, verifier } = options;
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlSeconds * 1000;
  const idleMs = options.idleSeconds * 1000;
  const inFlight = new Map<string, Promise<SessionRecord>>();
  /** session id → the record a refresh produced, keyed by the access token it replaced. */
  const recent = new Map<
    string,
    { replaced: string; record: SessionRecord; payload: unknown; until: number }
  >();

  const absoluteExpiry = (r: SessionRecord) => r.createdAt + ttlMs;

  function cookieFor(record: SessionRecord, payload: unknown, previousChunks: number): string[] {
    const maxAge = (absoluteExpiry(record) - now()) / 1000;
    return writeChunked(SESSION_COOKIE, sealer.seal(payload, SESSION_COOKIE), maxAge, previousChunks);
  }

  function ended(error: GatewayError, cookies: ReadonlyMap<string, string>): SessionState {
    return {
      kind: 'ended',
      error,
      setCookie: clearChunked(SESSION_COOKIE, chunkCount(cookies, SESSION_COOKIE)),
    };
  }

  async function identityOf(record: SessionRecord, allowedIssuers?: readonly string[]): Promise<Identity> {
    const allowed = allowedIssuers ? allowedIssuers.filter((name) => name === issuer) : [issuer];
    const identity = await verifier.verify(record.accessToken, allowed);
    return { ...identity, authMethod: 'session' };
  }

  /** The record holding a token response; `exp` is the verified access token's. */
  function withTokens(base: SessionRecord | NewSession, tokens: TokenSet, exp: number): SessionRecord {
    const t = now();
    const fromResponse =
      tokens.expiresIn === undefined ? Number.POSITIVE_INFINITY : t + tokens.expiresIn * 1000;
    const previous = 'accessToken' in base ? base : undefined;
    return {
      ...base,
      accessToken: tokens.accessToken,
      accessExpiresAt: Math.min(exp * 1000, fromResponse),
      refreshedAt: t,
      // Without rotation the IdP sends no new refresh token: the old one stays good.
      refreshToken: tokens.refreshToken ?? previous?.refreshToken,
      idToken: tokens.idToken ?? previous?.idToken,
    };
  }

  /** One refresh per session in this process; the store makes it one across replicas. */
  function refreshShared(record: SessionRecord, payload: unknown): Promise<SessionRecord> {
    const running = inFlight.get(record.id);
    if (running) return running;
    const refreshToken = record.refreshToken;
    if (!refreshToken) return Promise.reject(new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session expired'));
    const promise = store
      .refreshOnce(record, payload, async (current) => {
        const tokens = await options.sso.refresh(current.refreshToken ?? refreshToken);
        const identity = await verifier.verify(tokens.accessToken, [issuer]);
        if (identity.sub !== current.sub)
          throw new GatewayError('SG_ERR_TOKEN_EXPIRED', 'refreshed token names another subject');
        const next = withTokens(current, tokens, identity.expiresAt);
        await store.write(next, absoluteExpiry(next), payload);
        return next;
      })
      .then((next) => {
        if (!next) throw new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session ended');
        return next;
      })
      .finally(() => inFlight.delete(record.id));
    inFlight.set(record.id, promise);
    return promise;
  }

  function remember(replaced: SessionRecord, record: SessionRecord, payload: unknown): void {
    const t = now();
    for (const [id, entry] of recent) if (entry.until <= t) recent.delete(id);
    recent.set(record.id, {
      replaced: fingerprint(replaced.accessToken),
      record,
      payload,
      until: t + RECENT_MS,
    });
  }

  async function resume(
    cookies: ReadonlyMap<string, string>,
    allowedIssuers?: readonly string[],
  ): Promise<SessionState> {
    const sealed = readChunked(cookies, SESSION_COOKIE);
    if (sealed === undefined) {
      return chunkCount(cookies, SESSION_COOKIE) > 0
        ? ended(new GatewayError('SG_ERR_INVALID_TOKEN', 'session cookie is not valid'), cookies)
        : { kind: 'none' };
    }
    const payload = sealer.open(sealed, SESSION_COOKIE);
    if (payload === undefined)
      return ended(new GatewayError('SG_ERR_INVALID_TOKEN', 'session cookie is not valid'), cookies);
    const chunks = chunkCount(cookies, SESSION_COOKIE);
    let record = await store.read(payload);
    if (!record) return ended(new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session ended'), cookies);
    if (record.issuer !== issuer)
      return ended(new GatewayError('SG_ERR_INVALID_TOKEN', 'session of another issuer'), cookies);

    const t = now();
    if (t >= absoluteExpiry(record))
      return ended(new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session expired'), cookies);
    if (t >= record.lastSeenAt + idleMs)
      return ended(new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session expired (idle)'), cookies);

    let changed = false;
    const stale = recent.get(record.id);
    if (stale && stale.until > t && stale.replaced === fingerprint(record.accessToken)) {
      // This cookie predates a refresh that already happened: carry on from its result.
      record = stale.record;
      changed = true;
    }
    const margin = Math.min(REFRESH_MARGIN_MS, (record.accessExpiresAt - record.refreshedAt) / 4);
    if (t >= record.accessExpiresAt - margin) {
      try {
        const before = record;
        record = await refreshShared(record, payload);
        if (store.kind === 'cookie') remember(before, record, payload);
        changed = true;
      } catch (err) {
        const error = storeError(err);
        if (isGatewayError(error) && error.code === 'SG_ERR_TOKEN_EXPIRED') return ended(error, cookies);
        // The IdP is down: a token that is still valid keeps working until it expires.
        if (!(isGatewayError(error) && error.code === 'SG_ERR_IDP_UNAVAILABLE' && t < record.accessExpiresAt))
          throw error;
      }
    }

    let identity: Identity;
    try {
      identity = await identityOf(record, allowedIssuers);
    } catch (err) {
      // Keys that cannot be fetched are an outage (503); anything else ends the session.
      if (isGatewayError(err) && (err.status >= 500 || err.code === 'SG_ERR_WRONG_ISSUER')) throw err;
      return ended(isGatewayError(err) ? err : new GatewayError('SG_ERR_INVALID_TOKEN'), cookies);
    }

    if (t - record.lastSeenAt >= Math.min(TOUCH_INTERVAL_MS, idleMs / 4)) {
      record = { ...record, lastSeenAt: t };
      try {
        await store.write(record, absoluteExpiry(record), payload);
      } catch (err) {
        throw storeError(err);
      }
      changed = true;
    }
    const setCookie = changed && store.kind === 'cookie' ? cookieFor(record, record, chunks) : [];
    return { kind: 'active', identity, record, setCookie };
  }

  /** Removes the request's session from the store; returns it, when it was readable. */
  async function endSession(cookies: ReadonlyMap<string, string>): Promise<SessionRecord | undefined> {
    const sealed = readChunked(cookies, SESSION_COOKIE);
    const payload = sealed === undefined ? undefined : sealer.open(sealed, SESSION_COOKIE);
    if (payload === undefined) return undefined;
    const record = await store.read(payload);
    await store.remove(payload);
    if (record) inFlight.delete(record.id);
    return record;
  }

  return {
    hasSession: (cookies) => chunkCount(cookies, SESSION_COOKIE) > 0,

    async resume(cookies, allowedIssuers) {
      try {
        return await resume(cookies, allowedIssuers);
      } catch (err) {
        throw storeError(err);
      }
    },

    async start(tokens, cookies) {
      let identity: Identity;
      try {
        identity = { ...(await verifier.verify(tokens.accessToken, [issuer])), authMethod: 'session' };
      } catch (err) {
        if (isGatewayError(err) && err.status >= 500) throw err;
        const why = isGatewayError(err) ? err.detail : 'not valid';
        throw new GatewayError(
          'SG_ERR_LOGIN_FAILED',
          `the identity provider's access token is not accepted: ${why}`,
          {
            cause: err,
          },
        );
      }
      if (!tokens.idClaims || tokens.idClaims.sub !== identity.sub) {
        throw new GatewayError(
          'SG_ERR_LOGIN_FAILED',
          'the ID token and the access token name different subjects',
        );
      }
      const t = now();
      const fresh: NewSession = {
        v: 1,
        // Never the id of a session the browser brought along (session fixation).
        id: randomBytes(32).toString('base64url'),
        issuer,
        sub: identity.sub,
        sid: tokens.idClaims.sid,
        createdAt: t,
        lastSeenAt: t,
      };
      const record = withTokens(fresh, tokens, identity.expiresAt);
      try {
        await endSession(cookies);
        const payload = await store.write(record, absoluteExpiry(record));
        return { identity, setCookie: cookieFor(record, payload, chunkCount(cookies, SESSION_COOKIE)) };
      } catch (err) {
        if (err instanceof RangeError) {
          const detail = 'the tokens are too large for a cookie session (use sso.store: redis)';
          throw new GatewayError('SG_ERR_LOGIN_FAILED', detail, { cause: err });
        }
        throw storeError(err);
      }
    },

    async end(cookies) {
      const setCookie = clearChunked(SESSION_COOKIE, chunkCount(cookies, SESSION_COOKIE));
      try {
        const record = await endSession(cookies);
        return record ? { record, setCookie } : { setCookie };
      } catch (err) {
        throw storeError(err);
      }
    },
  };
}
