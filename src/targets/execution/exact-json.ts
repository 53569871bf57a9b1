/**
 * JSON that is kept exactly: the body a caller sends is the input an execution gets, for every
 * execution target (a Step Functions input, an Argo workflow's parameters and envelope).
 *
 * `JSON.parse` turns `12345678901234567891` into `12345678901234567000` and `1e400` into
 * `Infinity` (then `null`), and keeps the last of two equal keys. Here every number stays the
 * text it was written as (`JSON.rawJSON`, which `JSON.stringify` writes back verbatim), and what
 * cannot be kept is refused: a name twice in one object (RFC 8259 §4 leaves its meaning to the
 * reader; I-JSON, RFC 7493 §2.3, forbids it), and nesting deeper than `MAX_JSON_DEPTH`. Both are
 * found by one linear scan before anything recursive runs, so a megabyte of `[[[[…` is refused in
 * milliseconds instead of overflowing the stack of the parser's reviver or of `JSON.stringify`.
 */
import { GatewayError } from '../../errors.ts';

/** Deepest nesting of arrays and objects a body may have (System.Text.Json's default too). */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Whether `c` can be part of a JSON number (RFC 8259 §6): digits, `-`, `+`, `.`, `e`, `E`. */
const isNumberChar = (c: number): boolean =>
  (c >= DIGIT_0 && c <= DIGIT_9) || c === MINUS || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

/**
 * One pass over `text`: refuses nesting beyond `maxDepth` and a name repeated in one object.
 * It checks only these; the grammar is left to `JSON.parse`, which runs after it. Keys are
 * compared decoded, so `"a"` and `"\u0061"` are the same name. Returns whether a number is
 * written in a way `JSON.parse` would not give back (`10.50`, `1e2`, 17 digits and more): only
 * then does the (five times slower) parse that keeps source text have to run.
 */
export function scanJson(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let lossy = false;
  /** One entry per open container: the names seen so far for an object, `null` for an array. */
  const open: (Set<string> | null)[] = [];
  let expectName = false;
  const n = text.length;
  /** The next backslash at or after the string being read: found once per escape, not per string. */
  let nextBackslash = text.indexOf('\\');
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // The closing quote is the first one not escaped: preceded by an even run of backslashes.
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return lossy; // unterminated: JSON.parse says so
      if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = text.indexOf('\\', i);
      const escaped = nextBackslash !== -1 && nextBackslash < end;
      if (expectName) {
        const names = open.at(-1)!;
        const name = escaped ? decodeString(text.slice(i, end + 1)) : text.slice(i + 1, end);
        if (name === undefined) return lossy;
        if (names.has(name)) {
          throw new GatewayError(
            'SG_ERR_INVALID_JSON',
            `the body has the name ${JSON.stringify(name).slice(0, 200)} twice in one object; ` +
              'which one counts is not defined (RFC 8259 §4), so it is refused',
          );
        }
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (open.length >= maxDepth) {
        throw new GatewayError(
          'SG_ERR_JSON_TOO_DEEP',
          `the body nests arrays and objects more than ${maxDepth} deep`,
        );
      }
      open.push(c === OPEN_OBJECT ? new Set() : null);
      expectName = c === OPEN_OBJECT;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      open.pop();
      expectName = false;
    } else if (c === COMMA) {
      expectName = open.at(-1) instanceof Set;
    } else if (!lossy && (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9))) {
      let end = i + 1;
      while (end < n && isNumberChar(text.charCodeAt(end))) end += 1;
      const literal = text.slice(i, end);
      lossy = String(Number(literal)) !== literal;
      i = end - 1;
    }
  }
  return lossy;
}

/** Whether the character at `at` follows an odd number of backslashes. */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes += 1;
  return backslashes % 2 === 1;
}

function decodeString(literal: string): string | undefined {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return undefined; // a bad escape: JSON.parse refuses the whole text
  }
}

/** Numbers become their source text, so `JSON.stringify` writes them as they were written. */
function keepNumbers(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === 'number' && context?.source !== undefined ? JSON.rawJSON(context.source) : value;
}

/**
 * Parses `text` keeping every number as written. Throws `SG_ERR_JSON_TOO_DEEP` or
 * `SG_ERR_INVALID_JSON` (a repeated name); a `SyntaxError` when `text` is not JSON.
 */
export function parseExactJson(text: string, maxDepth: number = MAX_JSON_DEPTH): unknown {
  if (!scanJson(text, maxDepth)) return JSON.parse(text) as unknown;
  return JSON.parse(text, keepNumbers as (key: string, value: unknown) => unknown) as unknown;
}

/**
 * A number from `parseExactJson` as it was written (`1.50` stays `1.50`); `undefined` for any
 * other value. A plain number is one `String` gives back as written (`scanJson` saw to that).
 */
export function exactNumberText(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return JSON.isRawJSON(value) ? value.rawJSON : undefined;
}
