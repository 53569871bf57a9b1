/**
 * The envelope an execution receives, whatever runs it (a Step Functions execution's input, an
 * Argo workflow's `stepgate-caller` parameter):
 * `{ body, caller: { issuer, sub, clientId, scopes, roles, groups, claims }, request: { id, method, path, receivedAt } }`.
 * Built as one value and serialized once by JSON.stringify, so claim values (quotes, newlines,
 * NUL, U+2028, lone surrogates) stay data and the envelope is always valid JSON; the body is the
 * value `parseJsonBody` read, so its numbers are written exactly as the caller wrote them.
 */
import type { Identity } from '../../identity/types.ts';

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

/** The envelope as JSON text; `body` is `parseJsonBody`'s value, `undefined` (none) becomes `null`. */
export function envelopeText(body: unknown, identity: Identity, request: RequestFacts): string {
  return JSON.stringify({
    body: body ?? null,
    caller: envelopeCaller(identity),
    request: {
      id: request.id,
      method: request.method,
      path: request.path,
      receivedAt: request.receivedAt.toISOString(),
    },
  });
}
