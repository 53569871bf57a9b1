/** `/.well-known/stepgate/jwks.json`: the keys upstreams use to verify `X-Stepgate-Assertion`. */
import type { FastifyInstance } from 'fastify';

export const JWKS_PATH = '/.well-known/stepgate/jwks.json';

export default async function wellKnownRoutes(app: FastifyInstance): Promise<void> {
  app.get(JWKS_PATH, { config: { internal: 'jwks' } }, async (request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return request.stepgate.runtime.signer.jwks;
  });
}
