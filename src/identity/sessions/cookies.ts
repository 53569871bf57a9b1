/**
 * The gateway's cookies: `__Host-` names (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain, so
 * neither a sibling subdomain nor plain http can plant or overwrite them), `HttpOnly`,
 * `SameSite=Lax`. A value longer than one cookie holds is split into numbered chunks
 * (`__Host-stepgate-session-0`, `-1`, …), each well under the 4096 bytes browsers keep.
 */

/** Every cookie this gateway sets starts with this; upstreams never see them. */
export const COOKIE_PREFIX = '__Host-stepgate-';
export const SESSION_COOKIE = `${COOKIE_PREFIX}session`;
/** Per login attempt: `__Host-stepgate-login-<id>`, so two tabs can log in at once. */
export const LOGIN_COOKIE = `${COOKIE_PREFIX}login`;

/** Bytes of value per chunk: with name and attributes, a Set-Cookie stays under 4 KB. */
export const CHUNK_BYTES = 3800;
/** More chunks than this is not a session but an attack on header limits. */
export const MAX_CHUNKS = 5;

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[!#-+\--:<-[\]-~]*$/;

/** The request's cookies by name (RFC 6265 §5.4); the first of duplicate names wins. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (COOKIE_NAME.test(name) && !out.has(name)) out.set(name, value);
  }
  return out;
}

/** A `Set-Cookie` value for one of our cookies; `maxAgeSeconds: 0` deletes it. */
export function serializeCookie(name: string, value: string, maxAgeSeconds: number): string {
  if (!name.startsWith(COOKIE_PREFIX) || !COOKIE_NAME.test(name))
    throw new TypeError(`bad cookie name ${name}`);
  if (!COOKIE_VALUE.test(value)) throw new TypeError('cookie value holds characters a cookie cannot');
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; Secure; HttpOnly; SameSite=Lax`;
}

/** How many chunks of `base` the request carries (contiguous from 0). */
export function chunkCount(cookies: ReadonlyMap<string, string>, base: string): number {
  let n = 0;
  while (n <= MAX_CHUNKS && cookies.has(`${base}-${n}`)) n++;
  return n;
}

/**
 * The value of a chunked cookie, or `undefined` when absent or not well-formed (too many
 * chunks: a sealed value then fails to open anyway, but we do not even try).
 */
export function readChunked(cookies: ReadonlyMap<string, string>, base: string): string | undefined {
  const n = chunkCount(cookies, base);
  if (n === 0 || n > MAX_CHUNKS) return undefined;
  let value = '';
  for (let i = 0; i < n; i++) value += cookies.get(`${base}-${i}`);
  return value;
}

/**
 * `Set-Cookie` values that store `value` in chunks and delete chunks left over from a longer
 * previous value (`previousChunks`, as the request carried them).
 */
export function writeChunked(
  base: string,
  value: string,
  maxAgeSeconds: number,
  previousChunks: number,
): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < value.length; i += CHUNK_BYTES) chunks.push(value.slice(i, i + CHUNK_BYTES));
  if (chunks.length > MAX_CHUNKS)
    throw new RangeError(`a session of ${value.length} bytes does not fit in cookies`);
  const out = chunks.map((chunk, i) => serializeCookie(`${base}-${i}`, chunk, maxAgeSeconds));
  for (let i = chunks.length; i < previousChunks; i++) out.push(serializeCookie(`${base}-${i}`, '', 0));
  return out;
}

/** `Set-Cookie` values that delete every chunk of `base` the request carried. */
export function clearChunked(base: string, previousChunks: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(previousChunks, 1); i++) out.push(serializeCookie(`${base}-${i}`, '', 0));
  return out;
}

/** A `Cookie` request header without the gateway's own cookies (for upstreams). */
export function withoutGatewayCookies(header: string): string | undefined {
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '' && !part.startsWith(COOKIE_PREFIX));
  return kept.length > 0 ? kept.join('; ') : undefined;
}
