/**
 * Header hygiene for forwarded requests (DESIGN.md "Security invariants" → Headers). Pure
 * functions over plain header objects so the rules are tested as tables.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.ts';
import { COOKIE_PREFIX, withoutGatewayCookies } from '../identity/sessions/cookies.ts';
import type { Identity } from '../identity/types.ts';

/** RFC 9110 §7.6.1 connection-specific fields, never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers that claim routing or client identity: believed only from a trusted proxy. */
const PROXY_CLAIMS = new Set(['forwarded', 'x-original-url', 'x-rewrite-url', 'x-real-ip', 'x-client-ip']);

/** Method overrides let a GET be replayed as DELETE behind the policy's back: always dropped. */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** Names listed in `Connection` (RFC 9110 §7.6.1). */
export function connectionListed(value: string | string[] | undefined): string[] {
  if (!value) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * Whether a client header must be dropped. Names are compared with `_` read as `-`, since some
 * upstream stacks (CGI, nginx with underscores_in_headers) treat them as the same header.
 */
export function isSpoofableHeader(name: string, trustedPeer: boolean): boolean {
  const n = name.toLowerCase().replaceAll('_', '-');
  if (n.startsWith('x-stepgate-') || METHOD_OVERRIDES.has(n) || n === 'x-request-id') return true;
  if (HOP_BY_HOP.has(n)) return true;
  // An underscore spelling is never legitimate for these, trusted peer or not.
  if (name.includes('_') && (n.startsWith('x-forwarded-') || PROXY_CLAIMS.has(n))) return true;
  if (!trustedPeer && (n.startsWith('x-forwarded-') || PROXY_CLAIMS.has(n))) return true;
  return false;
}

// Control characters in this regex are intended: finding control characters is the point.
const UNSAFE_VALUE = /[\u0000-\u001f\u007f]/;

/**
 * A value for an identity header. Control characters (CR/LF above all) are refused rather than
 * stripped, because a claim that carries them is an attack; non-ASCII is percent-encoded.
 */
export function headerValue(value: string): string {
  if (UNSAFE_VALUE.test(value)) {
    throw new GatewayError('SG_ERR_BAD_HEADER', 'an identity value holds control characters');
  }
  return /^[\u0020-\u007e]*$/.test(value) ? value : encodeURIComponent(value);
}

export interface ForwardContext {
  readonly identity: Identity | undefined;
  readonly requestId: string;
  readonly assertion: string | undefined;
  readonly forwardAuthorization: boolean;
  readonly trustedPeer: boolean;
  readonly clientIp: string;
  readonly host: string | undefined;
  readonly protocol: string;
}

/**
 * The headers an upstream receives. Runs after the `Connection`-named headers were removed (so a
 * client can never name an identity header there and have it stripped after we set it).
 */
export function forwardedHeaders(incoming: IncomingHttpHeaders, ctx: ForwardContext): OutgoingHttpHeaders {
  const named = new Set(connectionListed(incoming.connection));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || named.has(name) || isSpoofableHeader(name, ctx.trustedPeer)) continue;
    if (name === 'authorization' && !ctx.forwardAuthorization) continue;
    if (name === 'cookie') {
      // The session cookies are the gateway's credentials: upstreams never see them.
      const kept = withoutGatewayCookies(String(value));
      if (kept !== undefined) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  const priorFor = ctx.trustedPeer ? incoming['x-forwarded-for'] : undefined;
  out['x-forwarded-for'] = priorFor ? `${String(priorFor)}, ${ctx.clientIp}` : ctx.clientIp;
  if (!ctx.trustedPeer || !incoming['x-forwarded-proto']) out['x-forwarded-proto'] = ctx.protocol;
  if (ctx.host && (!ctx.trustedPeer || !incoming['x-forwarded-host'])) out['x-forwarded-host'] = ctx.host;
  out['x-request-id'] = ctx.requestId;
  const identity = ctx.identity;
  if (identity) {
    out['x-stepgate-subject'] = headerValue(identity.sub);
    out['x-stepgate-issuer'] = headerValue(identity.issuer);
    if (identity.clientId) out['x-stepgate-client'] = headerValue(identity.clientId);
    out['x-stepgate-scopes'] = headerValue(identity.scopes.join(' '));
    out['x-stepgate-groups'] = headerValue(identity.groups.join(','));
    const email = identity.claims['email'];
    if (typeof email === 'string') out['x-stepgate-email'] = headerValue(email);
  }
  if (ctx.assertion) out['x-stepgate-assertion'] = ctx.assertion;
  return out;
}

/** Response headers from the upstream, less the hop-by-hop ones. */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[] | undefined> {
  const named = new Set(connectionListed(headers['connection']));
  const out: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n) || named.has(n)) continue;
    if (n === 'set-cookie') {
      // An upstream may not set (or fixate) the gateway's session cookies.
      const cookies = (Array.isArray(value) ? value : [value ?? '']).filter(
        (c) => !c.trimStart().startsWith(COOKIE_PREFIX),
      );
      if (cookies.length > 0) out[name] = cookies;
      continue;
    }
    out[name] = value;
  }
  return out;
}
