/**
 * Authenticate (onRequest): turns the request's credentials into a verified `Identity`, or throws
 * a 401. Public routes and gateway-owned endpoints need none.
 *
 * A route's `auth` lists what it accepts. A request with an `Authorization` header is judged by
 * its bearer token where the route takes bearer tokens; otherwise, where it takes sessions, by
 * its session cookie (see `session.ts`: CSRF, 503s). A browser page load without a usable
 * session is sent to log in; anything else gets the 401.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { extractBearer } from '../identity/bearer-token.ts';
import type { BrowserSso } from '../identity/sessions/index.ts';
import { isBrowserNavigation, redirectToLogin, sessionIdentity } from './session.ts';
import './request-state.ts';

export interface AuthenticateOptions {
  /** Present when `sso` is configured. */
  sso?: BrowserSso | undefined;
}

async function authenticatePlugin(app: FastifyInstance, options: AuthenticateOptions): Promise<void> {
  const { sso } = options;
  app.addHook('onRequest', async (request, reply) => {
    const state = request.stepgate;
    const route = state.match?.route;
    if (!route || route.public) return;
    const bearer = route.auth.includes('bearer');
    if (sso && route.auth.includes('session') && !(bearer && request.headers.authorization !== undefined)) {
      const session = await sessionIdentity(request, reply, sso, route.issuers);
      if (session.identity) {
        state.identity = session.identity;
        return;
      }
      if (isBrowserNavigation(request))
        return redirectToLogin(request, reply, `${state.path}${state.search}`, session.error);
      throw session.error;
    }
    const verifier = state.runtime.verifier;
    const token = extractBearer(request.headers, request.raw.rawHeaders, state.search, verifier.acceptsOpaque);
    state.identity = await verifier.verify(token, route.issuers);
  });
}

export default fp(authenticatePlugin, {
  name: 'stepgate-authenticate',
  dependencies: ['stepgate-request-context'],
});
