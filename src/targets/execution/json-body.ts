/**
 * Request bodies of execution targets (Step Functions, Argo Workflows): `application/json` (or
 * `application/*+json`, RFC 6839) in UTF-8, parsed by `parseExactJson` so that numbers stay as
 * written, a name twice in one object and nesting deeper than `MAX_JSON_DEPTH` are refused; and
 * the one rule by which an `Idempotency-Key` compares a retried body with the first.
 */
import { GatewayError } from '../../errors.ts';
import { canonicalJson } from '../../canonical-json.ts';
import { MAX_JSON_DEPTH, parseExactJson } from './exact-json.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** `application/json` or any `application/*+json` (RFC 6839), with at most a UTF-8 charset. */
export function isJsonMediaType(contentType: string): boolean {
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json' && !/^application\/[a-z0-9!#$&^_.+-]+\+json$/.test(type)) return false;
  return params.every((p) => !p.startsWith('charset=') || /^charset="?utf-8"?$/.test(p));
}

/**
 * The request body as a JSON value with its numbers kept as written (see exact-json.ts);
 * `undefined` when there is none. Another media type is a 415; a body that is not UTF-8 JSON, or
 * repeats a name in an object, a 400 (`SG_ERR_INVALID_JSON`); one nested deeper than
 * `MAX_JSON_DEPTH`, a 400 (`SG_ERR_JSON_TOO_DEEP`).
 */
export function parseJsonBody(contentType: string | undefined, body: unknown): unknown {
  if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) return undefined;
  if (!Buffer.isBuffer(body)) throw new GatewayError('SG_ERR_INTERNAL');
  if (!contentType || !isJsonMediaType(contentType)) {
    throw new GatewayError('SG_ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json', {
      headers: { accept: 'application/json' },
    });
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (err) {
    throw new GatewayError('SG_ERR_INVALID_JSON', 'the body is not valid UTF-8', { cause: err });
  }
  try {
    return parseExactJson(text);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('SG_ERR_INVALID_JSON', 'the body is not valid JSON', { cause: err });
  }
}

/** Where an execution's input holds the request body: in the envelope's `body`, or it is the body. */
export type InputMode = 'envelope' | 'body';

/**
 * The body as an `Idempotency-Key` compares it: canonical JSON (names sorted, no whitespace),
 * numbers exactly as written. Two requests carry the same body when these are equal: key order
 * and whitespace do not matter, `9007199254740993` and `9007199254740992` do, as `1` and `1.0`.
 */
export function bodyFingerprint(body: unknown): string {
  return canonicalJson(body ?? null);
}

/**
 * Whether an existing execution's input (a Step Functions input, an Argo workflow's
 * `stepgate-caller` parameter) carries the same request body, by `bodyFingerprint`. The
 * envelope's `caller` is checked by the target (the name and labels say who started it), and its
 * `request` part (a retry has its own id and time) is not compared. With `input: body` no body
 * was sent as `{}`.
 */
export function sameBody(mode: InputMode, existingInput: string | undefined, body: unknown): boolean {
  if (existingInput === undefined) return false;
  let existing: unknown;
  try {
    // The envelope holds the body one level down.
    existing = parseExactJson(existingInput, MAX_JSON_DEPTH + 1);
  } catch {
    return false;
  }
  if (mode === 'body') return bodyFingerprint(existing) === bodyFingerprint(body ?? {});
  if (existing === null || typeof existing !== 'object' || !Object.hasOwn(existing, 'body')) return false;
  return bodyFingerprint((existing as { body: unknown }).body) === bodyFingerprint(body);
}
