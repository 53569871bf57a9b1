/**
 * The catch-all route: every request that is not a gateway-owned endpoint reaches its target
 * here, after the hooks have normalized, routed, authenticated and authorized it.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.ts';

export default async function forwardRoutes(app: FastifyInstance): Promise<void> {
  app.all('/*', async (request, reply) => {
    const match = request.stepgate.match;
    const target = match && request.stepgate.runtime.targets.get(match.route.target);
    // The hooks refuse unmatched requests; reaching here without a target is a bug, not a 200.
    if (!target) throw new GatewayError('SG_ERR_INTERNAL');
    // A client that left while it was authenticated or authorized gets nothing forwarded.
    if (request.stepgate.gone.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
    const forwarding = target.handle(request, reply);
    request.stepgate.forwarding = forwarding;
    return forwarding;
  });
}
