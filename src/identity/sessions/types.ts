/**
 * A browser session and where it is kept. The manager (`manager.ts`) decides what a session is
 * worth (time-outs, refresh, identity); a store only keeps it: in the cookie itself, or in Redis
 * with the cookie holding a handle.
 */

/** What a session holds. Times are milliseconds since the epoch. */
export interface SessionRecord {
  readonly v: 1;
  /** Random, 256 bits, new at every login (so a planted or stolen pre-login id is worthless). */
  readonly id: string;
  /** The issuer's config name (`sso.issuer`). */
  readonly issuer: string;
  readonly sub: string;
  /** The IdP's session id (`sid` of the ID token), for back-channel logout. */
  readonly sid?: string | undefined;
  readonly createdAt: number;
  /** Last request seen, for the idle time-out; updated at most once a minute. */
  readonly lastSeenAt: number;
  readonly accessToken: string;
  /** When the access token expires (its `exp`, or `expires_in` from the token response). */
  readonly accessExpiresAt: number;
  /** When the tokens were obtained (login or the last refresh). */
  readonly refreshedAt: number;
  readonly refreshToken?: string | undefined;
  /** Kept for `id_token_hint` at logout. */
  readonly idToken?: string | undefined;
}

/** A session store failed (Redis down, a time-out): a 503, never a login redirect. */
export class SessionStoreUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionStoreUnavailable';
  }
}

/** Sessions to end on a back-channel logout: every session of an IdP session, or of a subject. */
export interface SessionSelector {
  readonly issuer: string;
  readonly sid?: string | undefined;
  readonly sub?: string | undefined;
}

export interface SessionStore {
  readonly kind: 'cookie' | 'redis';
  /**
   * The session a cookie payload names, or `undefined` (unknown, ended, not readable).
   * Throws `SessionStoreUnavailable` when the store cannot answer.
   */
  read(payload: unknown): Promise<SessionRecord | undefined>;
  /** Keeps `record` until `expiresAt`; returns the payload the session cookie carries. */
  write(record: SessionRecord, expiresAt: number, previous?: unknown): Promise<unknown>;
  /** Ends a session (a no-op where the cookie is the only copy). */
  remove(payload: unknown): Promise<void>;
  /**
   * Runs `refresh` with at most one refresh of this session in flight — across replicas when
   * the store is shared. A caller that waited for another's refresh gets the record it wrote;
   * `undefined` when the session ended meanwhile.
   */
  refreshOnce(
    record: SessionRecord,
    payload: unknown,
    refresh: (current: SessionRecord) => Promise<SessionRecord>,
  ): Promise<SessionRecord | undefined>;
  /** True the first time `key` is seen within `ttlSeconds` (single-use `state`, logout `jti`). */
  consumeOnce(key: string, ttlSeconds: number): Promise<boolean>;
  /** Ends matching sessions; returns how many. Only a shared store can. */
  endSessions?(selector: SessionSelector): Promise<number>;
  close(): Promise<void>;
}
