/**
 * What the gateway would decide for a request, without sending anything: the shared core of
 * `stepgate explain` and `stepgate policy test`. The same modules the gateway runs — normalize,
 * route, preset, policy — minus the signature check, which needs the live IdP.
 */
import type { JWTPayload } from 'jose';
import type { Config, IssuerConfig } from '../config/schema.ts';
import { type Reason, isGatewayError } from '../errors.ts';
import { identityFromClaims } from '../identity/presets.ts';
import type { Identity } from '../identity/types.ts';
import { describeClaimValue } from '../policy/describe.ts';
import { normalizeRequestTarget } from '../policy/normalize-path.ts';
import type { CompiledRouting } from '../policy/routing.ts';

export interface DecideInput {
  readonly method: string;
  readonly path: string;
  /** The token payload; absent for an anonymous request. */
  readonly claims?: JWTPayload;
  /** The issuer's config name; by default the issuer whose `issuer` equals `claims.iss`. */
  readonly issuer?: string;
}

export interface Outcome {
  readonly decision: 'allow' | 'deny';
  readonly reason: Reason;
  readonly failed?: string;
  readonly path?: string;
  readonly route?: { readonly name: string; readonly index: number; readonly target: string };
  readonly identity?: Identity;
}

function findIssuer(config: Config, input: DecideInput): IssuerConfig | undefined {
  if (input.issuer) return config.issuers.find((i) => i.name === input.issuer);
  return config.issuers.find((i) => i.issuer === input.claims?.iss);
}

export function decide(config: Config, routing: CompiledRouting, input: DecideInput): Outcome {
  let path: string;
  try {
    path = normalizeRequestTarget(input.path, new Set()).path;
  } catch (err) {
    return {
      decision: 'deny',
      reason: 'bad_request',
      failed: isGatewayError(err) ? err.detail : String(err),
    };
  }
  const match = routing.table.match(input.method.toUpperCase(), path);
  if (!match) return { decision: 'deny', reason: 'no_route', path };
  const route = { name: match.route.name, index: match.index, target: match.route.target };
  const decidePolicy = routing.policies[match.index]!;
  if (match.route.public) return { decision: 'allow', reason: 'public', path, route };
  if (!input.claims) return { decision: 'deny', reason: 'missing_token', path, route };
  const issuer = findIssuer(config, input);
  if (!issuer) {
    const iss = input.claims.iss;
    let failed: string;
    if (input.issuer !== undefined) failed = `no issuer named ${describeClaimValue(input.issuer)}`;
    else if (typeof iss === 'string') failed = `no configured issuer has iss ${describeClaimValue(iss)}`;
    else failed = 'the claims have no "iss" and no issuer was named';
    return { decision: 'deny', reason: 'wrong_issuer', failed, path, route };
  }
  if (typeof input.claims.sub !== 'string') {
    return { decision: 'deny', reason: 'invalid_token', failed: 'the claims have no "sub"', path, route };
  }
  const identity = identityFromClaims(issuer, { iss: issuer.issuer, ...input.claims }, 'bearer', 'explain');
  if (match.route.issuers && !match.route.issuers.includes(issuer.name)) {
    return {
      decision: 'deny',
      reason: 'wrong_issuer',
      failed: `issuer "${issuer.name}" is not one of ${match.route.issuers.join(', ')}`,
      path,
      route,
      identity,
    };
  }
  const verdict = decidePolicy(identity);
  return {
    decision: verdict.allow ? 'allow' : 'deny',
    reason: verdict.reason,
    ...(verdict.failed ? { failed: verdict.failed } : {}),
    path,
    route,
    identity,
  };
}
