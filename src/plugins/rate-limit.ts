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
import './request-state.ts';

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
    if (result) {
      reply.header('ratelimit-limit', String(result.limit));
      reply.header('ratelimit-remaining', String(result.remaining));
      reply.header('ratelimit-reset', String(result.resetSeconds));
      reply.header('ratelimit-policy', `${result.limit};w=${result.windowSeconds}`);
    }
    return payload;
  });
}

export default fp(rateLimitPlugin, {
  name: 'stepgate-rate-limit',
  dependencies: ['stepgate-authorize'],
});
