/**
 * Rate limits (preHandler, after authorize): only a request the policy allowed is counted, so a
 * caller's denied or unauthenticated attempts never spend its budget. Over the limit is a 429
 * with `Retry-After`; every counted response carries the `RateLimit-*` headers of
 * draft-ietf-httpapi-ratelimit-headers, set last (onSend) so an upstream's cannot mask them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteConfig } from '../config/schema.ts';
import fp from 'fastify-plugin';
import { GatewayError } from '../errors.ts';
import { callerKey } from '../identity/types.ts';
import type { RateLimitConfig, RateLimiter, RateLimitResult } from '../ratelimit/limiter.ts';
import './request-state.ts';

/** The `RateLimit-*` headers of a counted response (draft-ietf-httpapi-ratelimit-headers). */
export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  return {
    'ratelimit-limit': String(result.limit),
    'ratelimit-remaining': String(result.remaining),
    'ratelimit-reset': String(result.resetSeconds),
    'ratelimit-policy': `${result.limit};w=${result.windowSeconds}`,
  };
}

/** Counts an allowed request on its route's limit; throws the 429 when it is over. */
async function count(
  request: FastifyRequest,
  route: RouteConfig,
  limiter: RateLimiter,
  limit: RateLimitConfig,
): Promise<void> {
  const state = request.stepgate;
  // callerKey always holds a "/", an IP address never does: the two cannot collide.
  const caller = state.identity ? callerKey(state.identity) : `ip:${request.ip}`;
  const result = await limiter.hit(route.name, caller, limit);
  state.rateLimit = result;
  if (!result.allowed) {
    throw new GatewayError(
      'SG_ERR_RATE_LIMITED',
      `at most ${result.limit} requests per ${result.windowSeconds} s on route "${route.name}"`,
      // RFC 9110 §10.2.3: seconds until the window ends.
      { headers: { 'retry-after': String(result.resetSeconds) } },
    );
  }
}

async function rateLimitPlugin(app: FastifyInstance): Promise<void> {
  // Written with `done`: most routes have no limit, and they then cost no promise (see
  // request-context.ts).
  app.addHook('preHandler', (request, _reply, done) => {
    const state = request.stepgate;
    const route = state.match?.route;
    const limiter = state.runtime.limiter;
    if (!route?.rateLimit || !state.decision?.allow || !limiter) {
      done();
      return;
    }
    count(request, route, limiter, route.rateLimit).then(() => done(), done);
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    const result = request.stepgate?.rateLimit;
    if (result) reply.headers(rateLimitHeaders(result));
    done(null, payload);
  });
}

export default fp(rateLimitPlugin, {
  name: 'stepgate-rate-limit',
  dependencies: ['stepgate-authorize'],
});
