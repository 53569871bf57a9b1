/**
 * The decision listener's Fastify side: the original request is put in place of the check request
 * before routing (so the gateway's pipeline judges it unchanged), and the answer replaces the
 * forward: 200 with the identity headers, or the refusal the proxy passes on to the client.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { absoluteLocation, allowHeaders } from '../decision/answer.ts';
import type { DecisionEndpoint } from '../decision/endpoint.ts';
import { refusePassThrough } from '../decision/pass-through.ts';
import { type DecisionProtocol, pathOf } from '../decision/protocol.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import type { PathNormalizer } from '../plugins/request-context.ts';
import type { AssertionSigner } from '../targets/assertion.ts';
import type { Target } from '../targets/registry.ts';

export interface DecisionNormalizer extends PathNormalizer {
  /** The protocol whose check this is; `undefined` when the check was refused before that. */
  protocolFor(req: IncomingMessage): DecisionProtocol | undefined;
}

/**
 * Reads the check (`endpoint.read`: trusted peer, protocol, original method and URI), then makes
 * the request the original one — its method, and its URI normalized by the gateway's own
 * normalizer — so routing, authentication, policy, rate limits and audit judge exactly what
 * gateway mode would. A refused check is remembered and thrown by the request context, as a
 * refused path is.
 */
export function createDecisionNormalizer(endpoint: DecisionEndpoint, gateway: PathNormalizer): DecisionNormalizer {
  const refused = new WeakMap<IncomingMessage, GatewayError>();
  const protocols = new WeakMap<IncomingMessage, DecisionProtocol>();
  return {
    rewriteUrl(req) {
      const url = req.url ?? '';
      try {
        const check = endpoint.read(
          { method: req.method ?? '', url, rawHeaders: req.rawHeaders },
          req.socket.remoteAddress,
        );
        protocols.set(req, check.protocol);
        req.method = check.original.method;
        req.url = check.original.target;
      } catch (err) {
        refused.set(req, isGatewayError(err) ? err : new GatewayError('SG_ERR_DECISION_REQUEST', undefined, { cause: err }));
        // Audited under the path it was sent to (the query can carry secrets and is dropped).
        return url.startsWith('/') ? pathOf(url) : '/';
      }
      return gateway.rewriteUrl(req);
    },
    resultFor: (req) => refused.get(req) ?? gateway.resultFor(req),
    protocolFor: (req) => protocols.get(req),
  };
}

export interface DecisionRoutesOptions {
  normalizer: DecisionNormalizer;
  /** The live signer (a reload of `assertion.keys` replaces it). */
  signer: (request: FastifyRequest) => AssertionSigner;
  /** The live targets (a config reload replaces them). */
  targets: (request: FastifyRequest) => ReadonlyMap<string, Target>;
  /** The gateway's public origin, where `/.stepgate/login` is served (when `sso` is set). */
  origin: string | undefined;
}

async function decisionRoutes(app: FastifyInstance, options: DecisionRoutesOptions): Promise<void> {
  app.all('/*', async (request, reply) => {
    const state = request.stepgate;
    const route = state.match?.route;
    const target = route && options.targets(request).get(route.target);
    const protocol = options.normalizer.protocolFor(request.raw);
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
    const assertion = identity ? await options.signer(request).sign(identity, target.name) : undefined;
    reply.header('cache-control', 'no-store');
    return reply.code(200).headers(allowHeaders(protocol.upstreamHeaders, identity, assertion, request.id)).send();
  });

  // Refusals as each proxy must receive them: a login redirect with an absolute Location, and
  // (for nginx) only the statuses it passes on.
  app.addHook('onSend', async (request, reply, payload) => {
    const protocol = options.normalizer.protocolFor(request.raw);
    if (!protocol || reply.statusCode < 300) return payload;
    const location = reply.getHeader('location');
    if (typeof location === 'string') reply.header('location', absoluteLocation(location, options.origin));
    reply.code(protocol.refusalStatus(reply.statusCode));
    return payload;
  });
}

export default fp(decisionRoutes, { name: 'stepgate-decision', dependencies: ['stepgate-audit'] });
