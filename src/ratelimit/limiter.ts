/**
 * `routes[].rateLimit`: a fixed window of `perCaller` requests per `windowSeconds`, counted per
 * (route, caller). The caller is `<issuer>/<sub>` (`callerKey`), so two issuers never share a
 * budget; an anonymous caller on a public route is counted by client IP (which honours
 * `server.trustProxy`).
 *
 * A store that cannot be reached refuses the request (503 `SG_ERR_RATE_LIMIT_UNAVAILABLE`): a
 * limit that silently stops applying while Redis is down is no limit.
 */
import { GatewayError } from '../errors.ts';
import { createRedisRateLimitStore } from './redis-store.ts';
import { createMemoryRateLimitStore, type RateLimitStore } from './store.ts';

export interface RateLimitConfig {
  readonly perCaller: number;
  readonly windowSeconds: number;
}

/** The outcome of one counted request, and what the `RateLimit-*` headers say. */
export interface RateLimitResult {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window ends (at least 1). */
  readonly resetSeconds: number;
  readonly windowSeconds: number;
}

export interface RateLimiter {
  readonly kind: RateLimitStore['kind'];
  /** Counts one request of `caller` on `route`; throws `SG_ERR_RATE_LIMIT_UNAVAILABLE`. */
  hit(route: string, caller: string, limit: RateLimitConfig): Promise<RateLimitResult>;
  close(): Promise<void>;
}

export function createRateLimiter(store: RateLimitStore): RateLimiter {
  return {
    kind: store.kind,
    async hit(route, caller, limit) {
      let counted;
      try {
        counted = await store.hit(`${route}\0${caller}`, limit.windowSeconds * 1000);
      } catch (err) {
        throw new GatewayError('SG_ERR_RATE_LIMIT_UNAVAILABLE', 'the rate-limit store could not be reached', {
          cause: err,
        });
      }
      return {
        allowed: counted.count <= limit.perCaller,
        limit: limit.perCaller,
        remaining: Math.max(0, limit.perCaller - counted.count),
        resetSeconds: Math.max(1, Math.ceil(counted.resetInMs / 1000)),
        windowSeconds: limit.windowSeconds,
      };
    },
    close: () => store.close(),
  };
}

/**
 * Redis when `redis:` is configured (shared by replicas; its windows run on Redis's clock), else
 * one replica's memory, on `now`.
 */
export function createRateLimiterFor(
  redis: { url: string; keyPrefix: string } | undefined,
  now?: () => number,
): RateLimiter {
  return createRateLimiter(
    redis
      ? createRedisRateLimitStore({ url: redis.url, keyPrefix: redis.keyPrefix })
      : createMemoryRateLimitStore({ now }),
  );
}
