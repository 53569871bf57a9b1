/**
 * What a decision answer carries besides its status: on allow, the identity headers exactly as an
 * HTTP target would receive them; on a login redirect, an absolute `Location`.
 */
import type { DecisionHeader } from '../config/schema.ts';
import type { Identity } from '../identity/types.ts';
import { forwardedHeaders } from '../targets/headers.ts';

/**
 * The allow answer's identity headers. Every configured name is present, empty when the caller
 * has no such value (or the route is public), so that a proxy that copies them onto the
 * upstream request replaces whatever the client sent under those names.
 */
export function allowHeaders(
  names: readonly DecisionHeader[],
  identity: Identity | undefined,
  assertion: string | undefined,
  requestId: string,
): Record<DecisionHeader, string> {
  // The same function that builds an HTTP target's headers, so both modes encode alike.
  const built = forwardedHeaders(
    {},
    {
      identity,
      requestId,
      assertion,
      forwardAuthorization: false,
      trustedPeer: false,
      clientIp: '',
      host: undefined,
      protocol: 'http',
    },
  );
  const out = {} as Record<DecisionHeader, string>;
  for (const name of names) out[name] = String(built[name] ?? '');
  return out;
}

/**
 * A login redirect's `Location` on the gateway's public origin. Gateway mode answers with a
 * relative one (the browser is already on the gateway); a proxy resolves it against its own
 * check URL (Traefik) or cannot resolve it at all (nginx), and the login lives at the origin.
 */
export function absoluteLocation(location: string, origin: string | undefined): string {
  return origin && location.startsWith('/') && !location.startsWith('//') ? new URL(location, origin).href : location;
}
