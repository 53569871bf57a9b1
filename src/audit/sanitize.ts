/**
 * Value hygiene for audit records: length caps with a visible marker, token redaction, and the
 * one-line JSON serialization that no hostile value can break.
 */

/** Appended to a string that was cut at its cap. */
export const TRUNCATED_MARKER = '…[truncated]';
/** Replaces a token-looking substring in free-form text (path, user agent, error messages). */
export const REDACTED_MARKER = '[redacted]';

/** Length caps in UTF-16 code units (before the marker) and item caps for arrays and objects. */
export const CAPS = {
  field: 256,
  path: 2048,
  userAgent: 512,
  error: 1024,
  items: 64,
  /** Serialized size of all of `caller.claims` together. */
  claimsChars: 8192,
  /** Nesting depth kept inside one claim value. */
  claimDepth: 4,
} as const;

/**
 * A JWS/JWE in compact form (RFC 7515 §7.1, RFC 7516 §7.1): base64url segments joined by dots.
 * A candidate counts when its first segment decodes to a JOSE header, so host names and version
 * strings (`api.example.com`, `1.2.3`) are not mistaken for tokens.
 */
const COMPACT =
  /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}/g;
/** Three long base64url segments and nothing else: an opaque dotted token of another shape. */
const DOTTED_TOKEN = /^\s*(?:bearer\s+)?[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\s*$/i;

function isJoseHeader(segment: string): boolean {
  const json = Buffer.from(segment, 'base64url').toString('latin1');
  return /^\s*\{/.test(json) && json.includes('"alg"');
}

/**
 * Where a JOSE header starts in a run of base64url characters, or -1. Usually at 0; but a token
 * glued to other base64url characters (`x` + `eyJhbGciOi…`) starts later. A header is a JSON
 * object, and `{` followed by `"` or whitespace encodes as `ey` or `ew`, so only those offsets are
 * tried.
 */
function joseHeaderAt(segment: string): number {
  if (isJoseHeader(segment)) return 0;
  for (let i = segment.indexOf('e', 1); i !== -1 && i <= segment.length - 8; i = segment.indexOf('e', i + 1)) {
    const next = segment[i + 1];
    if ((next === 'y' || next === 'w') && isJoseHeader(segment.slice(i))) return i;
  }
  return -1;
}

/** True when `value` holds a JWT/JWE anywhere, or is a bare three-segment dotted token. */
export function looksLikeToken(value: string): boolean {
  if (value.indexOf('.') === -1) return false;
  if (DOTTED_TOKEN.test(value)) return true;
  for (const match of value.matchAll(COMPACT)) if (joseHeaderAt(match[1]!) !== -1) return true;
  return false;
}

function redactTokens(value: string): string {
  if (DOTTED_TOKEN.test(value)) return REDACTED_MARKER;
  return value.replace(COMPACT, (whole, header: string) => {
    const at = joseHeaderAt(header);
    return at === -1 ? whole : whole.slice(0, at) + REDACTED_MARKER;
  });
}

/** Cuts `value` to `max` code units plus the marker, never splitting a surrogate pair. */
export function cap(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = max;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return value.slice(0, end) + TRUNCATED_MARKER;
}

/** Free-form text: token-looking parts replaced, then capped. Anything not a string becomes `''`. */
export function text(value: unknown, max: number = CAPS.field): string {
  if (typeof value !== 'string') return '';
  return cap(value.indexOf('.') === -1 ? value : redactTokens(value), max);
}

/** A list of strings: each one `text`-ed, at most `CAPS.items`, with a marker item for the rest. */
export function textList(values: readonly unknown[] | undefined): string[] {
  if (!Array.isArray(values)) return [];
  const out: string[] = [];
  const n = Math.min(values.length, CAPS.items);
  for (let i = 0; i < n; i++) out.push(text(values[i]));
  if (values.length > n) out.push(`…[+${values.length - n} more]`);
  return out;
}

/**
 * Sets `key` as an own, enumerable member even when it is `__proto__`: a plain assignment would
 * set the object's prototype instead and the claim would vanish from the record.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A copy of one claim value safe to record, or `undefined` to drop it: strings that look like a
 * token are dropped (not masked: a claim that carries a token has no business in the audit),
 * strings capped, arrays and objects bounded in size and depth, non-JSON values dropped.
 */
export function copyClaimValue(value: unknown, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
      return looksLikeToken(value) ? undefined : cap(value, CAPS.field);
    case 'number':
      return Number.isFinite(value) ? value : undefined;
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      if (depth >= CAPS.claimDepth) return TRUNCATED_MARKER;
      if (Array.isArray(value)) {
        const out: unknown[] = [];
        for (const item of value.slice(0, CAPS.items)) {
          const copy = copyClaimValue(item, depth + 1);
          if (copy !== undefined) out.push(copy);
        }
        if (value.length > CAPS.items) out.push(`…[+${value.length - CAPS.items} more]`);
        return out;
      }
      const out: Record<string, unknown> = {};
      const keys = Object.keys(value);
      for (const key of keys.slice(0, CAPS.items)) {
        if (looksLikeToken(key)) continue;
        const copy = copyClaimValue((value as Record<string, unknown>)[key], depth + 1);
        if (copy !== undefined) setOwn(out, cap(key, CAPS.field), copy);
      }
      if (keys.length > CAPS.items) out['…'] = `[+${keys.length - CAPS.items} more]`;
      return out;
    }
    default:
      return undefined;
  }
}

/**
 * Characters that JSON.stringify leaves raw but some line readers treat as line breaks or
 * terminal controls: DEL, C1 controls (U+0085 is a line break to many), U+2028/U+2029.
 * JSON.stringify already escapes C0 controls (`\n`, `\r`, NUL, ESC …) and lone surrogates.
 */
const RAW_BREAKERS = /[\u007f-\u009f\u2028\u2029]/g;

function escapeChar(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

const HAS_RAW_BREAKER = /[\u007f-\u009f\u2028\u2029]/;

/**
 * `json` with the characters of `RAW_BREAKERS` escaped. Structural JSON is ASCII, so they can
 * only sit inside strings, where `\uXXXX` is an equivalent escape: the text parses to the same
 * value. Most lines hold none, and a test is cheaper than a replace.
 */
export function escapeRawBreakers(json: string): string {
  return HAS_RAW_BREAKER.test(json) ? json.replace(RAW_BREAKERS, escapeChar) : json;
}

/** One JSON line (without the `\n`) that parses back to the same value. */
export function toJsonLine(value: unknown): string {
  return escapeRawBreakers(JSON.stringify(value));
}
