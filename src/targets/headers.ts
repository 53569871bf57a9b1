/**
 * Header hygiene for forwarded requests and their responses (DESIGN.md "Security invariants" →
 * Headers). Pure functions over plain header objects, so the rules are tested as tables and
 * carry over to any forwarding engine.
 *
 * What a client may send upstream. Envoy, Pomerium and oauth2-proxy all forward a client's
 * headers by default and strip or overwrite the ones they own (Envoy's `x-envoy-*` and
 * `use_remote_address`, Pomerium's `X-Pomerium-*`, oauth2-proxy's `X-Forwarded-User`/`-Email` and
 * their underscore spellings). A full allow-list of request headers would break every
 * application's own headers (`X-Requested-With`, `X-Api-Version`, …), so stepgate takes the same
 * base. But the headers that *claim* where a request came from, who sent it or what it was
 * addressed to are an open class — every CDN and proxy adds one (`True-Client-IP`,
 * `CF-Connecting-IP`, `Fastly-Client-IP`, `X-ProxyUser-Ip`, `X-Original-Host`, …), and a strip
 * list of them is never complete. For that class the rule is inverted: a header whose name has
 * the shape of such a claim (`claimShaped`) passes only when it is on an allow-list, and only
 * from a peer in `trustProxy`. From anyone else, no such claim passes; stepgate writes its own
 * `X-Forwarded-For`/`-Proto`/`-Host`.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { COOKIE_PREFIX, withoutGatewayCookies } from '../identity/sessions/cookies.ts';
import type { Identity } from '../identity/types.ts';
import { identityHeaders } from './identity-headers.ts';
import { isMethodOverrideHeader } from './method-override.ts';

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

/**
 * Rewritten by the gateway rather than forwarded: `host` (the upstream's authority), the body
 * framing (the body is buffered and re-framed), and `expect` (the gateway has already answered
 * `100 Continue` and holds the whole body; RFC 9110 §10.1.1 makes the expectation hop-by-hop).
 */
const REWRITTEN = new Set(['host', 'content-length', 'expect']);

/**
 * Name tokens (split on `-`) that make a header a claim about the client, the host, the scheme,
 * the path or a certificate or user another proxy vouched for.
 */
const CLAIM_TOKENS = new Set([
  'forwarded', // X-Forwarded-*, Forwarded, Forwarded-For, X-Original-Forwarded-For
  'ip', // Client-IP, True-Client-IP, X-Real-IP, CF-Connecting-IP, X-ProxyUser-Ip, …
  'host', // X-Host, X-Original-Host, X-HTTP-Host-Override
  'original', // X-Original-URL, X-Original-URI
  'rewrite', // X-Rewrite-URL
  'proxy', // Proxy (httpoxy: CGI turns it into HTTP_PROXY)
  'scheme', // X-Scheme, X-Url-Scheme
  'proto',
  'https', // Front-End-Https
  'ssl', // X-SSL-Client-Cert, X-Forwarded-Ssl
  'addr', // X-Remote-Addr
  'address', // X-Envoy-External-Address, X-Client-Address
  'remote', // Remote-User, X-Remote-User, X-Remote-Group
  'principal', // X-MS-Client-Principal (Azure App Service)
  'authenticated', // X-Authenticated-User, X-Goog-Authenticated-User-Email
  'webauth', // X-WEBAUTH-USER (Grafana's auth proxy)
  'oidc', // X-Amzn-Oidc-Identity (AWS ALB)
  'iap', // X-Goog-IAP-JWT-Assertion
]);

/** Claims a trusted proxy in front of the gateway legitimately sends (`server.trustProxy`). */
const TRUSTED_CLAIMS = new Set(['forwarded', 'x-original-url', 'x-rewrite-url', 'x-real-ip', 'x-client-ip']);

/** `X-Forwarded-*` from a trusted peer: the proxy convention stepgate itself extends. */
const isForwardingHeader = (n: string) => n.startsWith('x-forwarded-');

/** Whether a (lowercased, `_` read as `-`) header name has the shape of a client or host claim. */
export function claimShaped(n: string): boolean {
  for (const token of n.split('-')) {
    if (CLAIM_TOKENS.has(token)) return true;
    // Glued spellings: X-ClientIP, X-RealIP, X-ClientCert, X-ARR-ClientCert.
    if (/^[a-z]*(client|real|user)(ip|cert)$/.test(token) || token === 'cert') return true;
  }
  return n.startsWith('cf-access-') || n.startsWith('x-auth-request-') || n.startsWith('x-pomerium-');
}

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
  const memo = trustedPeer ? spoofableFromTrusted : spoofable;
  let verdict = memo.get(name);
  if (verdict === undefined) {
    verdict = judgeHeader(name, trustedPeer);
    // Names are the client's to choose: only so many are remembered.
    if (memo.size < NAMES_REMEMBERED) memo.set(name, verdict);
  }
  return verdict;
}

/**
 * The verdicts on header names seen so far, per kind of peer: the same few dozen names come with
 * every request, and judging one takes a split and a regex per token.
 */
const spoofable = new Map<string, boolean>();
const spoofableFromTrusted = new Map<string, boolean>();
const NAMES_REMEMBERED = 2048;

function judgeHeader(name: string, trustedPeer: boolean): boolean {
  // HTTP/2 pseudo-headers (RFC 9113 §8.3: `:method`, `:path`, `:authority`, `:scheme`) describe
  // the request the gateway has judged; the upstream gets them as HTTP/1.1's request line and Host.
  if (name.charCodeAt(0) === 0x3a) return true;
  const n = name.toLowerCase().replaceAll('_', '-');
  // Method overrides let a POST be replayed as DELETE behind the policy's back: always dropped.
  if (n.startsWith('x-stepgate-') || isMethodOverrideHeader(n) || n === 'x-request-id') return true;
  if (HOP_BY_HOP.has(n) || REWRITTEN.has(n)) return true;
  if (!claimShaped(n)) return false;
  // An underscore spelling is never legitimate for a claim, trusted peer or not.
  if (!trustedPeer || name.includes('_')) return true;
  return !(isForwardingHeader(n) || TRUSTED_CLAIMS.has(n));
}

export interface ForwardContext {
  readonly identity: Identity | undefined;
  readonly requestId: string;
  readonly assertion: string | undefined;
  readonly forwardAuthorization: boolean;
  readonly trustedPeer: boolean;
  readonly clientIp: string;
  /** The authority the client addressed: an absolute-form target's, else `Host`. */
  readonly host: string | undefined;
  readonly protocol: string;
  /** `server.publicUrl`: when set, `X-Forwarded-Host`/`-Proto` always name it. */
  readonly publicUrl?: URL | undefined;
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
  // What is in `out` by now came from a trusted peer (or was dropped): extend it.
  const priorFor = out['x-forwarded-for'];
  out['x-forwarded-for'] = priorFor ? `${String(priorFor)}, ${ctx.clientIp}` : ctx.clientIp;
  if (ctx.publicUrl) {
    // The public URL is what clients reach: links an upstream builds (password resets,
    // redirects) must point there, whatever Host a client sent.
    out['x-forwarded-host'] = ctx.publicUrl.host;
    out['x-forwarded-proto'] = ctx.publicUrl.protocol.slice(0, -1);
  } else {
    out['x-forwarded-proto'] ??= ctx.protocol;
    if (ctx.host) out['x-forwarded-host'] ??= ctx.host;
  }
  out['x-request-id'] = ctx.requestId;
  if (ctx.identity) Object.assign(out, identityHeaders(ctx.identity));
  if (ctx.assertion) out['x-stepgate-assertion'] = ctx.assertion;
  return out;
}

const NONE: ReadonlySet<string> = new Set();

/** What becomes of a response header by its name alone (`Connection`-named ones aside). */
function responseKind(name: string): 'drop' | 'set-cookie' | 'keep' {
  const n = name.toLowerCase();
  if (HOP_BY_HOP.has(n)) return 'drop';
  const spelled = n.replaceAll('_', '-');
  if (spelled === 'x-request-id' || spelled.startsWith('x-stepgate-')) return 'drop';
  return n === 'set-cookie' ? 'set-cookie' : 'keep';
}

const responseKinds = new Map<string, 'drop' | 'set-cookie' | 'keep'>();

/**
 * Response headers from the upstream, less the hop-by-hop ones, the gateway's own
 * (`X-Request-Id` is always the audited one; `X-Stepgate-*` in any spelling are the gateway's
 * namespace) and any attempt to set the gateway's session cookies.
 */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const named = headers['connection'] === undefined ? NONE : new Set(connectionListed(headers['connection']));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    let kind = responseKinds.get(name);
    if (kind === undefined) {
      kind = responseKind(name);
      if (responseKinds.size < NAMES_REMEMBERED) responseKinds.set(name, kind);
    }
    if (kind === 'drop' || named.has(name.toLowerCase())) continue;
    if (kind === 'set-cookie') {
      // An upstream may not set (or fixate) the gateway's session cookies.
      const cookies = (Array.isArray(value) ? value : [value]).filter(
        (c) => !c.trimStart().startsWith(COOKIE_PREFIX),
      );
      if (cookies.length > 0) out[name] = cookies;
      continue;
    }
    out[name] = value;
  }
  return out;
}
