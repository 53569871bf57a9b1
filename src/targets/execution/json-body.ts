/**
 * Request bodies of execution targets: `application/json` (or `application/*+json`, RFC 6839) in
 * UTF-8, kept exactly as sent. RFC 8259 leaves duplicate object keys to the implementation
 * (§4: "the names within an object SHOULD be unique") and JSON.parse silently keeps the last
 * one, so a policy, a log and a workflow could each read a different value: they are refused.
 * Numbers are kept as written (JSON.parse would turn `1.50` into `1.5` and round big integers),
 * because the text, not a re-serialization, is what a workflow receives.
 */
import { GatewayError } from '../../errors.ts';

/** A JSON document as sent, and what it says. */
export interface JsonText {
  /** The exact text (after UTF-8 decoding; a BOM is dropped). */
  readonly text: string;
  readonly value: unknown;
  /** For an object at the top: each member's value as its exact source text, in order. */
  readonly members: ReadonlyMap<string, string> | undefined;
}

/** Deeper documents are refused (400) rather than risking the stack. */
export const MAX_JSON_DEPTH = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** `application/json` or any `application/*+json` (RFC 6839), with at most a UTF-8 charset. */
export function isJsonMediaType(contentType: string): boolean {
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json' && !/^application\/[a-z0-9!#$&^_.+-]+\+json$/.test(type)) return false;
  return params.every((p) => !p.startsWith('charset=') || /^charset="?utf-8"?$/.test(p));
}

/**
 * The request body as UTF-8 text; `undefined` when there is none. Another media type is a 415,
 * bytes that are not UTF-8 a 400.
 */
export function readJsonText(contentType: string | undefined, body: unknown): string | undefined {
  if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) return undefined;
  if (!Buffer.isBuffer(body)) throw new GatewayError('SG_ERR_INTERNAL');
  if (!contentType || !isJsonMediaType(contentType)) {
    throw new GatewayError('SG_ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json', {
      headers: { accept: 'application/json' },
    });
  }
  try {
    return utf8.decode(body);
  } catch (err) {
    throw new GatewayError('SG_ERR_INVALID_JSON', 'the body is not valid UTF-8', { cause: err });
  }
}

/** The body as exact JSON; `undefined` when there is none. See `parseJsonText` for what is refused. */
export function readJsonBody(contentType: string | undefined, body: unknown): JsonText | undefined {
  const text = readJsonText(contentType, body);
  return text === undefined ? undefined : parseJsonText(text);
}

const WS = /[ \t\n\r]*/y;
// RFC 8259 §7: unescaped code points from U+0020 on, except `"` and `\`.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;

function invalid(detail: string): GatewayError {
  return new GatewayError('SG_ERR_INVALID_JSON', detail);
}

/**
 * Parses `text` as one RFC 8259 JSON value (surrounding whitespace allowed): a 400
 * (`SG_ERR_INVALID_JSON`) for anything else, for a duplicate key in any object, and for nesting
 * deeper than `MAX_JSON_DEPTH`.
 */
export function parseJsonText(text: string): JsonText {
  let at = 0;
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    at = re.lastIndex;
    return m[0];
  };
  const skip = () => void match(WS);
  const expected = (what: string) => invalid(`the body is not valid JSON: expected ${what} at offset ${at}`);
  let members: Map<string, string> | undefined;

  /** Scans one value; returns its [start, end). */
  const value = (depth: number): [number, number] => {
    skip();
    const start = at;
    const c = text[at];
    if (c === '{' || c === '[') {
      if (depth >= MAX_JSON_DEPTH) throw invalid(`the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
      at++;
      const close = c === '{' ? '}' : ']';
      const keys = c === '{' ? new Set<string>() : undefined;
      if (keys && depth === 0) members = new Map();
      skip();
      if (text[at] === close) {
        at++;
        return [start, at];
      }
      for (;;) {
        let key: string | undefined;
        if (keys) {
          skip();
          const raw = match(STRING);
          if (raw === undefined) throw expected('a member name');
          key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
          if (keys.has(key)) throw invalid(`the body has the key ${JSON.stringify(key)} twice in one object`);
          keys.add(key);
          skip();
          if (text[at++] !== ':') throw expected('":"');
        }
        const [from, to] = value(depth + 1);
        if (depth === 0 && key !== undefined) members?.set(key, text.slice(from, to));
        skip();
        const next = text[at++];
        if (next === close) return [start, at];
        if (next !== ',') throw expected(`"," or "${close}"`);
      }
    }
    if (match(STRING) === undefined && match(NUMBER) === undefined && match(LITERAL) === undefined) {
      throw expected('a value');
    }
    return [start, at];
  };

  value(0);
  skip();
  if (at !== text.length) throw expected('the end of the body');
  return { text, value: JSON.parse(text) as unknown, members };
}
