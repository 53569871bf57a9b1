/**
 * The envelope an execution receives, whatever runs it (a Step Functions execution's input, an
 * Argo workflow's `stepgate-caller` parameter):
 * `{ body, caller: { issuer, sub, clientId, scopes, roles, groups, claims }, request: { id, method, path, receivedAt } }`.
 * The caller and request parts are values serialized by JSON.stringify, so claim values (quotes,
 * newlines, NUL, U+2028, lone surrogates) stay data; the body is the request's JSON text, spliced
 * in as it was sent (it was validated as one JSON value), so its numbers stay as written.
 */
import type { Identity } from '../../identity/types.ts';
import { parseJsonText } from './json-body.ts';

export interface RequestFacts {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly receivedAt: Date;
}

/** The envelope's `caller`: the verified identity, never a token. */
export function envelopeCaller(identity: Identity): Record<string, unknown> {
  return {
    issuer: identity.issuer,
    sub: identity.sub,
    clientId: identity.clientId ?? null,
    scopes: identity.scopes,
    roles: identity.roles,
    groups: identity.groups,
    claims: identity.claims,
  };
}

/** The envelope as JSON text; `bodyJson` is one valid JSON value's text, or `undefined` for `null`. */
export function envelopeText(bodyJson: string | undefined, identity: Identity, request: RequestFacts): string {
  const facts = {
    id: request.id,
    method: request.method,
    path: request.path,
    receivedAt: request.receivedAt.toISOString(),
  };
  return `{"body":${bodyJson ?? 'null'},"caller":${JSON.stringify(envelopeCaller(identity))},"request":${JSON.stringify(facts)}}`;
}

/**
 * The body an envelope carries, exactly as it was spliced in (`null` for none); `undefined` when
 * `envelope` is not one (another client's input, a damaged parameter).
 */
export function envelopeBody(envelope: string | undefined): string | undefined {
  if (envelope === undefined) return undefined;
  try {
    return parseJsonText(envelope).members?.get('body');
  } catch {
    return undefined;
  }
}
