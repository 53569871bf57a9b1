/**
 * The gateway's browser endpoints, and the one check on where a login or logout may send the
 * browser afterwards (`rd`): a path on this gateway, nothing else — not `//host`, not `/\host`,
 * not a scheme, not a control character the URL parser would drop. The value is parsed as the
 * browser would parse it and the result must keep our origin; the redirect then carries what was
 * parsed, so what was checked is what is sent.
 */
import { GatewayError } from '../errors.ts';

export const SSO_BASE = '/.stepgate';
export const PATHS = {
  home: `${SSO_BASE}/`,
  login: `${SSO_BASE}/login`,
  callback: `${SSO_BASE}/callback`,
  logout: `${SSO_BASE}/logout`,
  loggedOut: `${SSO_BASE}/logged-out`,
  whoami: `${SSO_BASE}/whoami`,
  backchannelLogout: `${SSO_BASE}/backchannel-logout`,
} as const;

/** Where a login without `rd` lands. */
export const DEFAULT_RETURN = PATHS.home;

const MAX_RD_LENGTH = 2048;
// Control characters in this regex are intended: finding control characters is the point.
const REFUSED_CHARACTERS = /[\u0000-\u001f\u007f\\]/;
/** Returning to these would start another login or logout: the page is shown instead. */
const NO_RETURN = new Set<string>([PATHS.login, PATHS.callback, PATHS.logout, PATHS.backchannelLogout]);

/**
 * The same-origin path (with query and fragment) that `rd` names; `DEFAULT_RETURN` when it is
 * absent. Throws `SG_ERR_BAD_REQUEST` for anything that is not a path on `origin`.
 */
export function returnPath(rd: string | null | undefined, origin: string): string {
  if (rd === null || rd === undefined || rd === '') return DEFAULT_RETURN;
  const refuse = () => new GatewayError('SG_ERR_BAD_REQUEST', 'rd must be a path on this gateway');
  if (rd.length > MAX_RD_LENGTH || REFUSED_CHARACTERS.test(rd)) throw refuse();
  if (!rd.startsWith('/') || rd.startsWith('//')) throw refuse();
  let url: URL;
  try {
    url = new URL(rd, origin);
  } catch {
    throw refuse();
  }
  // `/a/..//host` parses to the path `//host`: same origin here, another host once it is a
  // relative Location. Refused like `//host` itself.
  if (url.origin !== origin || url.pathname.startsWith('//')) throw refuse();
  if (NO_RETURN.has(url.pathname)) return DEFAULT_RETURN;
  return url.pathname + url.search + url.hash;
}
