/**
 * Rate-limit counters in Redis, shared by every replica. One hit is one round trip: a Lua script
 * increments the key and, when the key has no expiry yet (the first hit of a window), sets it to
 * the window. Redis's clock ends the window, so replicas with skewed clocks agree. Keys are
 * `ratelimit:<sha256(key)>` under `redis.keyPrefix`.
 */
import { createHash } from 'node:crypto';
import { createRedisClient } from '../redis.ts';
import type { RateLimitStore } from './store.ts';

export interface RedisRateLimitStoreOptions {
  readonly url: string;
  /** Prefix of every key (default `stepgate:`), so several gateways can share a Redis. */
  readonly keyPrefix?: string;
  /** Per Redis command (default 1000 ms): how long a request may wait on the limiter. */
  readonly commandTimeoutMs?: number;
}

/** INCR, then PEXPIRE when the key has no time-to-live (-1); returns { count, pttl }. */
const HIT = `local n = redis.call('incr', KEYS[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
  redis.call('pexpire', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`;

export function createRedisRateLimitStore(options: RedisRateLimitStoreOptions): RateLimitStore {
  const redis = createRedisClient({
    url: options.url,
    keyPrefix: options.keyPrefix,
    commandTimeoutMs: options.commandTimeoutMs ?? 1000,
    lazyConnect: true,
  });

  return {
    kind: 'redis',
    async hit(key, windowMs) {
      const redisKey = `ratelimit:${createHash('sha256').update(key).digest('base64url')}`;
      const [count, ttl] = (await redis.eval(HIT, 1, redisKey, windowMs)) as [number, number];
      return { count, resetInMs: ttl };
    },
    async close() {
      redis.disconnect();
    },
  };
}
