/**
 * Authorize (preHandler): the route's compiled policy judges the verified identity. A denial is
 * a 403 naming the failed condition; a refusal to audit (failClosed) is a 503 before forwarding.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditLog } from '../audit/audit-log.ts';
import { GatewayError } from '../errors.ts';
import type { Subject } from '../policy/types.ts';

export interface AuthorizeOptions {
  audit: AuditLog;
}

const ANONYMOUS: Subject = Object.freeze({ issuer: '', scopes: [], roles: [], groups: [], claims: {} });

async function authorizePlugin(app: FastifyInstance, options: AuthorizeOptions): Promise<void> {
  // Never waits: written with `done` (see request-context.ts).
  app.addHook('preHandler', (request, _reply, done) => {
    const state = request.stepgate;
    if (!state.match) {
      done();
      return;
    }
    const decide = state.runtime.routing.policies[state.match.index]!;
    const decision = decide(state.identity ?? ANONYMOUS);
    state.decision = decision;
    if (!decision.allow) {
      throw new GatewayError(
        decision.reason === 'insufficient_scope' ? 'SG_ERR_INSUFFICIENT_SCOPE' : 'SG_ERR_POLICY_DENIED',
        decision.failed,
      );
    }
    options.audit.preflight();
    done();
  });
}

export default fp(authorizePlugin, {
  name: 'stepgate-authorize',
  dependencies: ['stepgate-authenticate'],
});
