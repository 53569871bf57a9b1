/**
 * The decision listener's front door: who may ask (`trustedPeers`), which protocol asks (by the
 * check request's path), and what it asks about. Everything else (normalization, routing,
 * authentication, policy, audit) is the gateway's own pipeline.
 */
import { createPeerMatcher } from '../config/peers.ts';
import type { DecisionConfig } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { envoyProtocol } from './envoy.ts';
import { nginxProtocol } from './nginx.ts';
import { type CheckRequest, type DecisionProtocol, type OriginalRequest, pathOf } from './protocol.ts';
import { traefikProtocol } from './traefik.ts';

export interface DecisionCheck {
  readonly protocol: DecisionProtocol;
  readonly original: OriginalRequest;
}

export interface DecisionEndpoint {
  readonly protocols: readonly DecisionProtocol[];
  /**
   * The protocol and the original request of a check from `peer`. Throws `SG_ERR_UNTRUSTED_PEER`
   * (403) for a peer outside `trustedPeers` before anything it names is read,
   * `SG_ERR_NO_ROUTE` (404) for a path no protocol serves, `SG_ERR_DECISION_REQUEST` (400) for a
   * check that does not name the original request.
   */
  read(check: CheckRequest, peer: string | undefined): DecisionCheck;
}

export function createDecisionEndpoint(config: DecisionConfig): DecisionEndpoint {
  const trusted = createPeerMatcher(config.trustedPeers);
  const protocols: DecisionProtocol[] = [];
  if (config.envoy) protocols.push(envoyProtocol(config.envoy));
  if (config.nginx) protocols.push(nginxProtocol(config.nginx));
  if (config.traefik) protocols.push(traefikProtocol(config.traefik));
  return {
    protocols,
    read(check, peer) {
      if (!trusted(peer)) {
        throw new GatewayError('SG_ERR_UNTRUSTED_PEER', `${peer ?? 'this peer'} is not in decision.trustedPeers`);
      }
      const path = pathOf(check.url);
      const protocol = protocols.find((candidate) => candidate.handles(path));
      if (!protocol) throw new GatewayError('SG_ERR_NO_ROUTE', 'not a decision endpoint');
      return { protocol, original: protocol.original(check) };
    },
  };
}
