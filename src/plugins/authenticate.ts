/**
 * Authenticate (onRequest): turns the request's credentials into a verified `Identity`, or throws
 * a 401. Public routes and gateway-owned endpoints need none.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { extractBearer } from '../identity/bearer-token.ts';
import type { BearerVerifier } from '../identity/verify-bearer.ts';
import './request-state.ts';

export interface AuthenticateOptions {
  verifier: BearerVerifier;
}

async function authenticatePlugin(app: FastifyInstance, options: AuthenticateOptions): Promise<void> {
  app.addHook('onRequest', async (request) => {
    const state = request.stepgate;
    const route = state.match?.route;
    if (!route || route.public) return;
    const token = extractBearer(request.headers, request.raw.rawHeaders, state.search);
    state.identity = await options.verifier.verify(token, route.issuers);
  });
}

export default fp(authenticatePlugin, {
  name: 'stepgate-authenticate',
  dependencies: ['stepgate-request-context'],
});
