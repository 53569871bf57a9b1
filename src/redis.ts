/**
 * The one way stepgate opens a Redis connection (sessions, rate limits, idempotency). Every user
 * wants the same failure behaviour: while Redis is down a command is tried once and waits no
 * longer than `commandTimeoutMs`, so callers answer 503 quickly instead of hanging.
 */
import { Redis } from 'ioredis';

export interface RedisClientOptions {
  readonly url: string;
  /** Default `stepgate:`. */
  readonly keyPrefix?: string | undefined;
  readonly commandTimeoutMs: number;
  /** Connect at the first command rather than now. */
  readonly lazyConnect?: boolean;
}

export function createRedisClient(options: RedisClientOptions): Redis {
  const redis = new Redis(options.url, {
    keyPrefix: options.keyPrefix ?? 'stepgate:',
    lazyConnect: options.lazyConnect ?? false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.commandTimeoutMs,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Failures surface on the commands (as 503s); the client keeps reconnecting on its own.
  redis.on('error', () => {});
  return redis;
}
