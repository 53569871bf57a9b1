/**
 * Rate limits (preHandler, after authorize): only a request the policy allowed is counted, so a
 * caller's denied or unauthenticated attempts never spend its budget. Over the limit is a 429
 * with `Retry-After`; every counted response carries the `RateLimit-*` headers of
 * draft-ietf-httpapi-ratelimit-headers, set last (onSend) so an upstream's cannot mask them.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError } from '../errors.ts';
import { callerKey } from '../identity/types.ts';
import type { RateLimitResult } from '../ratelimit/limiter.ts';
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

async function rateLimitPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('preHandler', async (request) => {
    const state = request.stepgate;
    const route = state.match?.route;
    const limiter = state.runtime.limiter;
    if (!route?.rateLimit || !state.decision?.allow || !limiter) return;
    // callerKey always holds a "/", an IP address never does: the two cannot collide.
    const caller = state.identity ? callerKey(state.identity) : `ip:${request.ip}`;
    const result = await limiter.hit(route.name, caller, route.rateLimit);
    state.rateLimit = result;
    if (!result.allowed) {
      throw new GatewayError(
        'SG_ERR_RATE_LIMITED',
        `at most ${result.limit} requests per ${result.windowSeconds} s on route "${route.name}"`,
        // RFC 9110 §10.2.3: seconds until the window ends.
        { headers: { 'retry-after': String(result.resetSeconds) } },
      );
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const result = request.stepgate?.rateLimit;
    if (result) reply.headers(rateLimitHeaders(result));
    return payload;
  });
}

export default fp(rateLimitPlugin, {
  name: 'stepgate-rate-limit',
  dependencies: ['stepgate-authorize'],
});
