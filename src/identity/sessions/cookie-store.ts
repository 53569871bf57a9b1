/**
 * `sso.store: cookie`: the session lives in the browser, sealed (AES-256-GCM) into the session
 * cookie by the manager. Nothing is kept server-side, so replicas need nothing shared; the price
 * is that logout cannot reach a copy of the cookie kept elsewhere (it lasts until its access
 * token can no longer be refreshed — logout revokes the refresh token at the IdP), and that
 * single-use checks (`state`) and refresh deduplication hold per replica.
 */
import { isSessionRecord } from './record.ts';
import type { SessionStore } from './types.ts';

/** Single-use keys remembered per replica; beyond this many, the oldest are forgotten first. */
const MAX_REMEMBERED = 100_000;

export function createCookieSessionStore(options: { now?: () => number } = {}): SessionStore {
  const now = options.now ?? Date.now;
  /** key → expiry (ms); Map iteration order is insertion order, so the oldest come first. */
  const seen = new Map<string, number>();

  return {
    kind: 'cookie',
    async read(payload) {
      return isSessionRecord(payload) ? payload : undefined;
    },
    async write(record) {
      return record;
    },
    async remove() {
      // The cookie is the only copy; the manager deletes it.
    },
    refreshOnce(record, _payload, refresh) {
      return refresh(record);
    },
    async consumeOnce(key, ttlSeconds) {
      const t = now();
      for (const [k, expiry] of seen) {
        if (expiry > t && seen.size < MAX_REMEMBERED) break;
        seen.delete(k);
      }
      const expiry = seen.get(key);
      if (expiry !== undefined && expiry > t) return false;
      seen.set(key, t + ttlSeconds * 1000);
      return true;
    },
    async close() {
      seen.clear();
    },
  };
}
