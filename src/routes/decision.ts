/**
 * The decision listener's Fastify side: the original request is put in place of the check request
 * as the request's first step (so the gateway's pipeline judges it unchanged), and the answer
 * replaces the forward: 200 with the identity headers, or the refusal the proxy passes on to the
 * client.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { absoluteLocation, allowHeaders } from '../decision/answer.ts';
import type { DecisionEndpoint } from '../decision/endpoint.ts';
import { refusePassThrough } from '../decision/pass-through.ts';
import { pathOf } from '../decision/protocol.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { type Normalized, normalizeTarget, type Prepared } from '../plugins/request-context.ts';

/**
 * Reads the check (`endpoint.read`: trusted peer, protocol, original method and URI), then makes
 * the request the original one — its method, and its URI normalized by the gateway's own
 * normalizer — so routing, authentication, policy, rate limits and audit judge exactly what
 * gateway mode would. A refused check is refused as a refused path is, audited under the path it
 * was sent to (the query can carry secrets and is dropped).
 */
export function createDecisionPrepare(endpoint: DecisionEndpoint): (request: FastifyRequest) => Prepared {
  // The original target is in origin form (the protocols check it): no authority to compare.
  const normalize = (target: string): Normalized => normalizeTarget(target, new Set());
  return (request) => {
    const req = request.raw;
    const url = request.originalUrl;
    try {
      const check = endpoint.read({ method: req.method ?? '', url, rawHeaders: req.rawHeaders }, req.socket.remoteAddress);
      req.method = check.original.method;
      return { target: normalize(check.original.target), proxy: check.protocol };
    } catch (err) {
      request.stepgate.path = url.startsWith('/') ? pathOf(url) : '/';
      const refused = isGatewayError(err) ? err : new GatewayError('SG_ERR_DECISION_REQUEST', undefined, { cause: err });
      return { target: refused };
    }
  };
}

export interface DecisionRoutesOptions {
  /** The gateway's public origin, where `/.stepgate/login` is served (when `sso` is set). */
  origin: string | undefined;
}

async function decisionRoutes(app: FastifyInstance, options: DecisionRoutesOptions): Promise<void> {
  app.all('/*', async (request, reply) => {
    const state = request.stepgate;
    const route = state.match?.route;
    const target = route && state.runtime.targets.get(route.target);
    const protocol = state.proxy;
    // The hooks refuse everything else; reaching here without these is a bug, not a 200.
    if (!target || !protocol) throw new GatewayError('SG_ERR_INTERNAL');
    if (target.type !== 'http') {
      // What an execution target enforces (who may read which execution) happens in the target.
      throw new GatewayError(
        'SG_ERR_DECISION_TARGET',
        `route "${route.name}" goes to a ${target.type} target, which only the gateway can serve`,
      );
    }
    state.target = { name: target.name, type: 'http' };
    // Where gateway mode's HTTP target refuses `_method` and drops what clients may not send.
    refusePassThrough(state.search, Object.keys(request.headers));
    const identity = state.identity;
    const assertion = identity ? await state.runtime.signer.sign(identity, target.name) : undefined;
    reply.header('cache-control', 'no-store');
    return reply.code(200).headers(allowHeaders(protocol.upstreamHeaders, identity, assertion, request.id)).send();
  });

  // Refusals as each proxy must receive them: a login redirect with an absolute Location, and
  // (for nginx) only the statuses it passes on.
  app.addHook('onSend', async (request, reply, payload) => {
    const protocol = request.stepgate?.proxy;
    if (!protocol || reply.statusCode < 300) return payload;
    const location = reply.getHeader('location');
    if (typeof location === 'string') reply.header('location', absoluteLocation(location, options.origin));
    reply.code(protocol.refusalStatus(reply.statusCode));
    return payload;
  });
}

export default fp(decisionRoutes, { name: 'stepgate-decision', dependencies: ['stepgate-audit'] });
