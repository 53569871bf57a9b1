/**
 * A login in progress: `state`, `nonce`, the PKCE verifier and where to return, sealed into a
 * short-lived cookie named after the state (`__Host-stepgate-login-<hash>`), so the callback
 * only completes in the browser that started the login (RFC 6749 §10.12: login CSRF), and two
 * tabs can log in at once. The callback deletes it; `consumeOnce` makes the state single-use
 * even against a copy of the cookie.
 */
import { createHash } from 'node:crypto';
import type { LoginChecks } from '../sso.ts';
import { LOGIN_COOKIE, serializeCookie } from './cookies.ts';
import type { Sealer } from './seal.ts';

/** How long a login may take, from the redirect to the IdP to the callback. */
export const LOGIN_TTL_SECONDS = 600;
/** Logins in progress a browser may hold at once (tabs); older ones are dropped. */
export const MAX_LOGINS = 3;

export interface LoginState extends LoginChecks {
  /** A same-origin path (checked before it was stored, and again when used). */
  readonly rd: string;
  readonly expiresAt: number;
}

export function loginCookieName(state: string): string {
  return `${LOGIN_COOKIE}-${createHash('sha256').update(state).digest('base64url').slice(0, 16)}`;
}

/** The `Set-Cookie` that carries a login to its callback. */
export function saveLogin(sealer: Sealer, login: LoginState): string {
  const name = loginCookieName(login.state);
  return serializeCookie(name, sealer.seal(login, name), LOGIN_TTL_SECONDS);
}

/** The `Set-Cookie` that deletes the login cookie of `state`. */
export function clearLogin(state: string): string {
  return serializeCookie(loginCookieName(state), '', 0);
}

/** The login `state` names, if this browser started it and it has not expired. */
export function findLogin(
  sealer: Sealer,
  cookies: ReadonlyMap<string, string>,
  state: string,
  now: number,
): LoginState | undefined {
  const name = loginCookieName(state);
  const sealed = cookies.get(name);
  if (sealed === undefined) return undefined;
  const login = sealer.open(sealed, name) as Partial<LoginState> | undefined;
  if (
    !login ||
    login.state !== state ||
    typeof login.nonce !== 'string' ||
    typeof login.codeVerifier !== 'string' ||
    typeof login.rd !== 'string' ||
    typeof login.expiresAt !== 'number' ||
    login.expiresAt <= now
  ) {
    return undefined;
  }
  return login as LoginState;
}

/**
 * `Set-Cookie` values that delete the oldest login cookies, so that with the one about to be
 * added a browser holds at most `MAX_LOGINS`: reloading a page that sends to login must not grow
 * the Cookie header until requests fail with 431.
 */
export function pruneLogins(sealer: Sealer, cookies: ReadonlyMap<string, string>): string[] {
  const logins = [...cookies]
    .filter(([name]) => name.startsWith(`${LOGIN_COOKIE}-`))
    .map(([name, value]) => {
      const login = sealer.open(value, name) as Partial<LoginState> | undefined;
      return { name, expiresAt: typeof login?.expiresAt === 'number' ? login.expiresAt : 0 };
    })
    .sort((a, b) => b.expiresAt - a.expiresAt);
  return logins.slice(MAX_LOGINS - 1).map(({ name }) => serializeCookie(name, '', 0));
}
