/**
 * `sso.store: redis`: sessions live server-side, so logout (and OIDC back-channel logout) ends
 * them everywhere, and replicas share one refresh per session.
 *
 * - The cookie carries only a handle: the session id and a per-session key (256 bits each).
 * - Redis holds the record sealed with that per-session key, under `session:<sha256(id)>`: a copy
 *   of the database yields neither a usable session id nor a readable token.
 * - Indexes `sid:<hash>` and `sub:<hash>` list the sessions of an IdP session and of a subject,
 *   for back-channel logout.
 * - A refresh takes `refresh-lock:<hash>` (SET NX PX); other replicas wait for the record it
 *   writes instead of spending the refresh token a second time (a rotated refresh token that is
 *   used twice makes the IdP end the whole grant).
 *
 * Any Redis failure is a `SessionStoreUnavailable`: a 503, never a login loop.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRedisClient } from '../../redis.ts';
import { isSessionRecord } from './record.ts';
import { createSealer } from './seal.ts';
import {
  type SessionRecord,
  type SessionSelector,
  type SessionStore,
  SessionStoreUnavailable,
} from './types.ts';

export interface RedisSessionStoreOptions {
  readonly url: string;
  /** Prefix of every key (default `stepgate:`), so several gateways can share a Redis. */
  readonly keyPrefix?: string;
  /** Per Redis command (default 2000 ms). */
  readonly commandTimeoutMs?: number;
  /** Longest a refresh may hold the lock, and others wait for it (default 15 s). */
  readonly refreshLockMs?: number;
  /** The longest a session lives (`sso.sessionTtlSeconds`): how long the indexes are kept. */
  readonly sessionTtlMs: number;
  readonly now?: () => number;
}

interface Handle {
  readonly id: string;
  readonly key: string;
}

const isHandle = (v: unknown): v is Handle =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Handle).id === 'string' &&
  typeof (v as Handle).key === 'string' &&
  Buffer.from((v as Handle).key, 'base64url').length === 32;

const hash = (...parts: string[]): string =>
  createHash('sha256').update(parts.join('\0')).digest('base64url');

/** Deletes the lock only if it is still ours (a lock that timed out may be someone else's now). */
const RELEASE =
  'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createRedisSessionStore(options: RedisSessionStoreOptions): SessionStore {
  const now = options.now ?? Date.now;
  const lockMs = options.refreshLockMs ?? 15_000;
  const redis = createRedisClient({
    url: options.url,
    keyPrefix: options.keyPrefix,
    commandTimeoutMs: options.commandTimeoutMs ?? 2000,
  });

  async function call<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      throw new SessionStoreUnavailable(`redis ${what} failed`, { cause: err });
    }
  }

  const sessionKey = (id: string) => `session:${hash(id)}`;
  const lockKey = (id: string) => `refresh-lock:${hash(id)}`;
  const sidKey = (issuer: string, sid: string) => `sid:${hash(issuer, sid)}`;
  const subKey = (issuer: string, sub: string) => `sub:${hash(issuer, sub)}`;

  async function load(handle: Handle): Promise<SessionRecord | undefined> {
    const key = sessionKey(handle.id);
    const sealed = await call('GET', () => redis.get(key));
    if (sealed === null) return undefined;
    const record = createSealer(Buffer.from(handle.key, 'base64url')).open(sealed, key);
    return isSessionRecord(record) && record.id === handle.id ? record : undefined;
  }

  async function save(record: SessionRecord, handle: Handle, expiresAt: number): Promise<void> {
    const key = sessionKey(record.id);
    const ttl = Math.max(1, expiresAt - now());
    const sealed = createSealer(Buffer.from(handle.key, 'base64url')).seal(record, key);
    const indexes = [
      subKey(record.issuer, record.sub),
      ...(record.sid ? [sidKey(record.issuer, record.sid)] : []),
    ];
    const tx = redis.multi().set(key, sealed, 'PX', ttl);
    // An index outlives every session it lists: none lives longer than sessionTtlMs.
    for (const index of indexes)
      tx.sadd(index, hash(record.id)).pexpire(index, Math.max(ttl, options.sessionTtlMs));
    const results = await call('MULTI', () => tx.exec());
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw new SessionStoreUnavailable('redis MULTI failed', { cause: failed?.[0] });
  }

  return {
    kind: 'redis',

    async read(payload) {
      return isHandle(payload) ? load(payload) : undefined;
    },

    async write(record, expiresAt, previous) {
      const handle: Handle =
        isHandle(previous) && previous.id === record.id
          ? previous
          : { id: record.id, key: randomBytes(32).toString('base64url') };
      await save(record, handle, expiresAt);
      return handle;
    },

    async remove(payload) {
      if (!isHandle(payload)) return;
      await call('DEL', () => redis.del(sessionKey(payload.id)));
    },

    async refreshOnce(record, payload, refresh) {
      if (!isHandle(payload)) return undefined;
      const token = randomBytes(16).toString('base64url');
      const deadline = now() + lockMs;
      for (;;) {
        const locked = await call('SET NX', () => redis.set(lockKey(record.id), token, 'PX', lockMs, 'NX'));
        try {
          // Read under the lock (or while waiting for it): another replica may have refreshed.
          const current = await load(payload);
          if (!current || current.accessToken !== record.accessToken) return current;
          if (locked === 'OK') return await refresh(current);
        } finally {
          if (locked === 'OK') {
            await call('EVAL', () => redis.eval(RELEASE, 1, lockKey(record.id), token)).catch(() => {});
          }
        }
        if (now() > deadline)
          throw new SessionStoreUnavailable('a refresh of this session did not finish in time');
        await sleep(50);
      }
    },

    async consumeOnce(key, ttlSeconds) {
      const set = await call('SET NX', () =>
        redis.set(`once:${hash(key)}`, '1', 'EX', Math.max(1, ttlSeconds), 'NX'),
      );
      return set === 'OK';
    },

    async endSessions(selector: SessionSelector) {
      const indexes = [
        ...(selector.sid ? [sidKey(selector.issuer, selector.sid)] : []),
        ...(selector.sub ? [subKey(selector.issuer, selector.sub)] : []),
      ];
      let ended = 0;
      for (const index of indexes) {
        const members = await call('SMEMBERS', () => redis.smembers(index));
        if (members.length > 0) {
          ended += await call('DEL', () => redis.del(...members.map((m) => `session:${m}`)));
        }
        await call('DEL', () => redis.del(index));
      }
      return ended;
    },

    async close() {
      redis.disconnect();
    },
  };
}
