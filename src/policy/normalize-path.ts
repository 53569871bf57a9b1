/**
 * One canonical path per request (DESIGN.md "Request path", "Security invariants"): the path the
 * router and the policy judge is exactly the path forwarded, so an upstream can never be reached
 * through a spelling the policy did not see.
 *
 * Canonical form (RFC 3986 §6.2.2): unreserved characters (ALPHA DIGIT - . _ ~) percent-decoded,
 * every other escape kept with uppercase hex, characters a path cannot hold raw (`"`, `<`, `{`,
 * non-ASCII …) percent-encoded as UTF-8, repeated slashes merged, dot segments resolved
 * (§5.2.4). Forms that servers disagree on are refused rather than guessed: encoded `/` and `\`,
 * raw `\`, control characters, `;` (path parameters, the `..;/` Tomcat bypass), `#`, malformed
 * escapes, invalid or overlong UTF-8, dot segments above the root, foreign absolute-form targets.
 */
import { GatewayError } from '../errors.ts';

export interface NormalizedTarget {
  /** The canonical path: starts with `/`; the path to match, authorize and forward. */
  readonly path: string;
  /** The query exactly as received, with its leading `?`; `''` when the target has no `?`. */
  readonly search: string;
  /** An absolute-form target's authority (lowercased), which replaces `Host` (RFC 9112 §3.2.2). */
  readonly authority?: string;
}

const HEX = '0123456789ABCDEF';

/** Per ASCII code: 1 = kept raw in a canonical path, 2 = unreserved (an escape of it is decoded). */
const PCHAR = new Uint8Array(128);
for (const c of "!$&'()*+,=:@") PCHAR[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') {
  PCHAR[c.charCodeAt(0)] = 2;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;

function refuse(detail: string): never {
  throw new GatewayError('SG_ERR_BAD_PATH', detail);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function percentEncode(byte: number): string {
  return '%' + HEX[byte >> 4] + HEX[byte & 15];
}

/** C0 controls, DEL and C1 controls (Unicode category Cc). */
function isControl(codePoint: number): boolean {
  return codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f);
}

/**
 * True when the path needs no rewriting: only raw pchars and single slashes, no escapes, no
 * segment starting with `.`. Most requests take this exit without allocating.
 */
function isPlainPath(path: string): boolean {
  let previous = 0;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === SLASH) {
      if (previous === SLASH) return false;
    } else if (code >= 128 || PCHAR[code] === 0 || (code === DOT && previous === SLASH)) {
      return false;
    }
    previous = code;
  }
  return true;
}

/** Reads the escape `%XY` at `i`; -1 when malformed. */
function escapedByte(path: string, i: number): number {
  if (path.charCodeAt(i) !== PERCENT || i + 2 >= path.length) return -1;
  const high = hexValue(path.charCodeAt(i + 1));
  const low = hexValue(path.charCodeAt(i + 2));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/**
 * Validates a percent-encoded UTF-8 sequence whose lead byte sits at `i` (RFC 3629 §4: no
 * overlong forms such as `%C0%AF`, no surrogates, nothing above U+10FFFF) and returns its length
 * in characters of `path`.
 */
function utf8SequenceLength(path: string, i: number, lead: number): number {
  let count: number;
  let min = 0x80;
  let max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) count = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    count = 2;
    if (lead === 0xe0) min = 0xa0;
    else if (lead === 0xed) max = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    count = 3;
    if (lead === 0xf0) min = 0x90;
    else if (lead === 0xf4) max = 0x8f;
  } else {
    return refuse('path holds invalid UTF-8');
  }
  for (let k = 1; k <= count; k++) {
    const byte = escapedByte(path, i + 3 * k);
    if (byte < min || byte > max) refuse('path holds invalid UTF-8');
    if (k === 1 && lead === 0xc2 && byte <= 0x9f) refuse('path holds a control character');
    min = 0x80;
    max = 0xbf;
  }
  return 3 * (count + 1);
}

/** Appends the UTF-8 escapes of a raw non-ASCII code point. */
function encodeCodePoint(codePoint: number): string {
  if (codePoint < 0x800)
    return percentEncode(0xc0 | (codePoint >> 6)) + percentEncode(0x80 | (codePoint & 63));
  if (codePoint < 0x10000) {
    return (
      percentEncode(0xe0 | (codePoint >> 12)) +
      percentEncode(0x80 | ((codePoint >> 6) & 63)) +
      percentEncode(0x80 | (codePoint & 63))
    );
  }
  return (
    percentEncode(0xf0 | (codePoint >> 18)) +
    percentEncode(0x80 | ((codePoint >> 12) & 63)) +
    percentEncode(0x80 | ((codePoint >> 6) & 63)) +
    percentEncode(0x80 | (codePoint & 63))
  );
}

/** Canonicalizes one segment (between slashes, `start` inclusive to `end` exclusive). */
function canonicalSegment(path: string, start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const code = path.charCodeAt(i);
    if (code === PERCENT) {
      const byte = i + 2 < end ? escapedByte(path, i) : -1;
      if (byte < 0) refuse('path holds a malformed percent-escape');
      if (byte >= 0x80) {
        const length = utf8SequenceLength(path, i, byte);
        for (let k = 0; k < length; k += 3) out += percentEncode(escapedByte(path, i + k));
        i += length;
        continue;
      }
      if (byte === SLASH || byte === 0x5c) refuse('path holds an encoded "/" or "\\"');
      if (byte === 0x3b) refuse('path holds an encoded ";"');
      if (isControl(byte)) refuse('path holds an encoded control character');
      out += PCHAR[byte] === 2 ? String.fromCharCode(byte) : percentEncode(byte);
      i += 3;
      continue;
    }
    if (code < 0x80) {
      if (isControl(code)) refuse('path holds a control character');
      if (code === 0x5c) refuse('path holds a "\\"');
      if (code === 0x3b) refuse('path holds a ";"');
      out += PCHAR[code] === 0 ? percentEncode(code) : path[i];
      i += 1;
      continue;
    }
    const codePoint = path.codePointAt(i)!;
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) refuse('path holds invalid UTF-16');
    if (isControl(codePoint)) refuse('path holds a control character');
    out += encodeCodePoint(codePoint);
    i += codePoint > 0xffff ? 2 : 1;
  }
  return out;
}

/** Canonicalizes an origin-form path (starts with `/`, no query). */
function canonicalPath(raw: string): string {
  if (isPlainPath(raw)) return raw;
  const segments: string[] = [];
  let trailingSlash = false;
  let start = 1;
  while (start <= raw.length) {
    let end = raw.indexOf('/', start);
    if (end < 0) end = raw.length;
    const isLast = end === raw.length;
    if (end > start) {
      const segment = canonicalSegment(raw, start, end);
      if (segment === '.') {
        trailingSlash = true;
      } else if (segment === '..') {
        if (segments.length === 0) refuse('path climbs above "/"');
        segments.pop();
        trailingSlash = true;
      } else {
        segments.push(segment);
        trailingSlash = false;
      }
    } else if (isLast) {
      // An empty last segment: the path ends with "/" (merged repeated slashes count once).
      trailingSlash = true;
    }
    start = end + 1;
  }
  if (segments.length === 0) return '/';
  const joined = '/' + segments.join('/');
  return trailingSlash ? joined + '/' : joined;
}

/** Removes the scheme's default port so `host:443` and `host` compare equal. */
function withoutDefaultPort(authority: string, https: boolean): string {
  const suffix = https ? ':443' : ':80';
  return authority.endsWith(suffix) ? authority.slice(0, -suffix.length) : authority;
}

/** Resolves an absolute-form target (RFC 9112 §3.2.2) to its path, or refuses a foreign one. */
function absoluteForm(
  target: string,
  ourAuthorities: ReadonlySet<string> | undefined,
): { authority: string; rest: string } {
  const lower = target.slice(0, 8).toLowerCase();
  const https = lower.startsWith('https://');
  if (!https && !lower.startsWith('http://')) refuse('request target must be a path');
  const from = https ? 8 : 7;
  let end = from;
  while (end < target.length) {
    const code = target.charCodeAt(end);
    if (code === SLASH || code === 0x3f) break;
    end++;
  }
  const authority = target.slice(from, end).toLowerCase();
  if (!ourAuthorities || authority === '' || authority.includes('@')) {
    refuse('absolute-form target for another authority');
  }
  if (!ourAuthorities.has(authority) && !ourAuthorities.has(withoutDefaultPort(authority, https))) {
    refuse('absolute-form target for another authority');
  }
  const rest = target.slice(end);
  return { authority, rest: rest.charCodeAt(0) === SLASH ? rest : '/' + rest };
}

/**
 * Turns the raw request-target (`req.url` as received) into its canonical path and its query.
 *
 * `ourAuthorities` holds the lowercased `host` or `host:port` names the gateway answers to; an
 * absolute-form target naming one of them is reduced to its path, any other is refused (as is
 * every absolute-form target when the set is absent). The query is not rewritten: it is only
 * refused when it holds a control character or `#`.
 *
 * @throws GatewayError `SG_ERR_BAD_PATH` (400) for every refused form.
 */
export function normalizeRequestTarget(
  target: string,
  ourAuthorities?: ReadonlySet<string>,
): NormalizedTarget {
  if (target.length === 0) refuse('empty request target');
  const absolute = target.charCodeAt(0) === SLASH ? undefined : absoluteForm(target, ourAuthorities);
  const raw = absolute ? absolute.rest : target;
  const queryAt = raw.indexOf('?');
  const search = queryAt < 0 ? '' : raw.slice(queryAt);
  for (let i = 0; i < search.length; i++) {
    const code = search.charCodeAt(i);
    if (isControl(code) || code === 0x23) refuse('query holds a control character or "#"');
  }
  const path = queryAt < 0 ? raw : raw.slice(0, queryAt);
  if (path.includes('#')) refuse('request target holds a "#"');
  const canonical = canonicalPath(path);
  return absolute ? { path: canonical, search, authority: absolute.authority } : { path: canonical, search };
}

/** True when `path` is already canonical (what `normalizeRequestTarget` would return unchanged). */
export function isCanonical(path: string): boolean {
  if (path.charCodeAt(0) !== SLASH || path.includes('?')) return false;
  if (isPlainPath(path)) return true;
  try {
    return canonicalPath(path) === path;
  } catch {
    return false;
  }
}
