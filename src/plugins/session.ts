/**
 * The HTTP side of sessions, shared by the authenticate plugin and the `/.stepgate/` routes:
 * reading the cookie, the CSRF rule, and the login redirect for browsers.
 *
 * CSRF: a cookie is sent by the browser on its own, so an unsafe request (anything but GET,
 * HEAD, OPTIONS) or a WebSocket handshake that a session authenticates must say where it comes from: its `Origin` must
 * be the gateway's own (the Fetch standard sends it on every such request). `SameSite=Lax`
 * already keeps the cookie off most cross-site requests; this closes the rest (same-site
 * siblings, old browsers) and answers 403 `csrf`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.ts';
import type { BrowserSso } from '../identity/sessions/index.ts';
import { parseCookies } from '../identity/sessions/cookies.ts';
import type { SessionRecord } from '../identity/sessions/types.ts';
import type { Identity } from '../identity/types.ts';
import { PATHS } from '../routes/sso-paths.ts';
import { pendingUpgrade } from './upgrade.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function requestCookies(request: FastifyRequest): Map<string, string> {
  return parseCookies(request.headers.cookie);
}

/** A top-level browser page load: GET or HEAD asking for HTML. */
export function isBrowserNavigation(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes('text/html');
}

/**
 * Refuses an unsafe request whose `Origin` is not the gateway's (403 `csrf`). A page whose
 * referrer policy is `no-referrer` makes the browser send `Origin: null` even to its own origin;
 * then (and only then) the browser's `Sec-Fetch-Site: same-origin`, which no script can set,
 * stands in for it.
 */
export function checkOrigin(request: FastifyRequest, origin: string): void {
  // A WebSocket handshake is a GET that any page may send with the user's cookies and then read
  // the answers of (cross-site WebSocket hijacking): it is held to the same rule.
  if (SAFE_METHODS.has(request.method) && !pendingUpgrade(request)) return;
  const given = request.headers.origin;
  if (given === origin) return;
  if ((given === undefined || given === 'null') && request.headers['sec-fetch-site'] === 'same-origin')
    return;
  throw new GatewayError(
    'SG_ERR_CSRF',
    given === undefined
      ? `${request.method} with a session cookie needs an Origin header`
      : `${request.method} from another origin with a session cookie`,
  );
}

export type SessionOutcome =
  | { readonly identity: Identity; readonly record: SessionRecord }
  /** No session, or one that ended (its cookie is being deleted): log in, or 401. */
  | { readonly identity: undefined; readonly error: GatewayError };

/**
 * The identity of the request's session cookie. Throws 403 `csrf` and 503s; a missing or ended
 * session is returned, not thrown, so the caller chooses between a login redirect and a 401.
 */
export async function sessionIdentity(
  request: FastifyRequest,
  reply: FastifyReply,
  sso: BrowserSso,
  allowedIssuers?: readonly string[],
): Promise<SessionOutcome> {
  const cookies = requestCookies(request);
  if (!sso.sessions.hasSession(cookies)) {
    return {
      identity: undefined,
      error: new GatewayError('SG_ERR_MISSING_TOKEN', 'no credentials and no session'),
    };
  }
  checkOrigin(request, sso.origin);
  const session = await sso.sessions.resume(cookies, allowedIssuers);
  if (session.kind === 'none') {
    return { identity: undefined, error: new GatewayError('SG_ERR_MISSING_TOKEN', 'no session') };
  }
  if (session.setCookie.length > 0) reply.header('set-cookie', [...session.setCookie]);
  if (session.kind === 'ended') return { identity: undefined, error: session.error };
  return { identity: session.identity, record: session.record };
}

/** Sends a browser to log in, returning afterwards to `returnTo` (a canonical path and query). */
export function redirectToLogin(
  request: FastifyRequest,
  reply: FastifyReply,
  returnTo: string,
  why: GatewayError,
): FastifyReply {
  // Recorded as the refusal it is: the audit says missing_token (or why the session ended).
  request.stepgate.error = why;
  reply.header('cache-control', 'no-store');
  return reply.redirect(`${PATHS.login}?rd=${encodeURIComponent(returnTo)}`, 302);
}
