/** `/.well-known/stepgate/jwks.json`: the keys upstreams use to verify `X-Stepgate-Assertion`. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AssertionSigner } from '../targets/assertion.ts';

export const JWKS_PATH = '/.well-known/stepgate/jwks.json';

export default async function wellKnownRoutes(
  app: FastifyInstance,
  options: { signer: (request: FastifyRequest) => AssertionSigner },
): Promise<void> {
  app.get(JWKS_PATH, { config: { internal: 'jwks' } }, async (request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return options.signer(request).jwks;
  });
}
