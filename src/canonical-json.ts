/**
 * Canonical JSON, the one helper for every place where two values must hash or compare the same
 * however they were written: the audit chain (v1 records and checkpoint signatures), the policy
 * version, an `Idempotency-Key`'s body and the STS session cache. RFC 8785 (JCS) for the values
 * these hold: object keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string
 * serialization — so any JCS implementation computes the same text — and, beyond JCS, a number
 * kept as written (`JSON.rawJSON`, see targets/execution/exact-json.ts) is written as it was.
 * Members JSON.stringify leaves out (`undefined`, functions, symbols) are left out; in arrays
 * they are `null`, as JSON.stringify writes them.
 */

/** What `JSON.rawJSON` returns (ES2025 "JSON.parse source text access"; not in TS's lib yet). */
interface RawJson {
  readonly rawJSON: string;
}

declare global {
  interface JSON {
    rawJSON(text: string): RawJson;
    isRawJSON(value: unknown): value is RawJson;
  }
}

/** Strings JSON.stringify would escape; all others are quoted as they are (the common case). */
// Control characters in this regex are intended: these are the characters JSON escapes.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const quotedKeys = new Map<string, string>();

function quote(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
}

/** Keys repeat (every audit record has the same ones): each is quoted once. */
function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = quote(key);
    if (quotedKeys.size < 1024) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/**
 * Values shared by many records (the audit `caller` of one cached token), deeply frozen when
 * registered: their canonical JSON is computed once (`null` until then).
 */
const sharedJson = new WeakMap<object, string | null>();

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const member of Object.values(value)) deepFreeze(member);
  Object.freeze(value);
}

/** Deep-freezes `value` (plain JSON data) and serializes it once, however often it is serialized. */
export function shareCanonical<T extends object>(value: T): T {
  deepFreeze(value);
  sharedJson.set(value, null);
  return value;
}

function skipped(member: unknown): boolean {
  return member === undefined || typeof member === 'function' || typeof member === 'symbol';
}

/** The canonical JSON of `value`; `omitKey` leaves one top-level member out without a copy. */
export function canonicalJson(value: unknown, omitKey?: string): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return 'null';
  }
  if (value === null) return 'null';
  if (JSON.isRawJSON(value)) return value.rawJSON;
  if (omitKey === undefined) {
    const memo = sharedJson.get(value);
    if (typeof memo === 'string') return memo;
    if (memo === null) {
      const json = canonicalJsonOf(value, undefined);
      sharedJson.set(value, json);
      return json;
    }
  }
  return canonicalJsonOf(value, omitKey);
}

function canonicalJsonOf(value: object, omitKey: string | undefined): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += (i > 0 ? ',' : '') + (skipped(item) ? 'null' : canonicalJson(item));
    }
    return out + ']';
  }
  const withToJson = value as { toJSON?: () => unknown };
  if (typeof withToJson.toJSON === 'function') return canonicalJson(withToJson.toJSON(), omitKey);
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = object[key];
    if (key === omitKey || skipped(member)) continue;
    out += (first ? '' : ',') + quoteKey(key) + ':' + canonicalJson(member);
    first = false;
  }
  return out + '}';
}
