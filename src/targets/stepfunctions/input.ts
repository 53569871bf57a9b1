/**
 * What an execution receives. The request body must be JSON (or absent); the execution input is
 * either that body or the envelope
 * `{ body, caller: { issuer, sub, clientId, scopes, roles, groups, claims }, request: { id, method, path, receivedAt } }`.
 * Everything is built as values and serialized once by JSON.stringify, so claim values
 * (quotes, newlines, NUL, U+2028, lone surrogates) stay data and the input is always valid JSON.
 * The body is parsed by `parseExactJson`: its numbers reach the execution as they were written.
 */
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { canonicalExactJson, MAX_JSON_DEPTH, parseExactJson } from './exact-json.ts';

/** Step Functions' limit for an execution input: 256 KiB of UTF-8. */
export const MAX_INPUT_BYTES = 262_144;

export type InputMode = 'envelope' | 'body';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** `application/json` or any `application/*+json` (RFC 6839), with at most a UTF-8 charset. */
function isJsonMediaType(contentType: string): boolean {
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/json' && !/^application\/[a-z0-9!#$&^_.+-]+\+json$/.test(type)) return false;
  return params.every((p) => !p.startsWith('charset=') || /^charset="?utf-8"?$/.test(p));
}

/**
 * The request body as a JSON value with its numbers kept as written (see exact-json.ts);
 * `undefined` when there is none. Another media type is a 415; a body that is not UTF-8 JSON, or
 * repeats a name in an object, a 400; one nested deeper than `MAX_JSON_DEPTH`, a 400 too.
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

export interface RequestFacts {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly receivedAt: Date;
}

/** The envelope's `caller`: the verified identity, never a token. */
export function envelopeCaller(identity: Identity): Record<string, unknown> {
  return {
    issuer: identity.issuer,
    sub: identity.sub,
    clientId: identity.clientId ?? null,
    scopes: identity.scopes,
    roles: identity.roles,
    groups: identity.groups,
    claims: identity.claims,
  };
}

/** The execution input as JSON text; over 256 KiB is a 413, before AWS is called. */
export function buildInput(
  mode: InputMode,
  body: unknown,
  identity: Identity,
  request: RequestFacts,
): string {
  const value =
    mode === 'body'
      ? (body ?? {})
      : {
          body: body ?? null,
          caller: envelopeCaller(identity),
          request: {
            id: request.id,
            method: request.method,
            path: request.path,
            receivedAt: request.receivedAt.toISOString(),
          },
        };
  const input = JSON.stringify(value);
  const size = Buffer.byteLength(input);
  if (size > MAX_INPUT_BYTES) {
    throw new GatewayError(
      'SG_ERR_INPUT_TOO_LARGE',
      `the execution input would be ${size} bytes; Step Functions takes at most ${MAX_INPUT_BYTES}`,
    );
  }
  return input;
}

/** The body as an `Idempotency-Key` compares it: canonical, numbers exactly as written. */
export function bodyFingerprint(body: unknown): string {
  return canonicalExactJson(body ?? null);
}

/**
 * Whether an existing execution's input carries the same request body (for `Idempotency-Key`):
 * compared as canonical JSON with numbers as written, so key order and whitespace do not matter
 * but `9007199254740993` and `9007199254740992` do; the envelope's `request` part (a retry has
 * its own id and time) is not compared.
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
  if (mode === 'body') return canonicalExactJson(existing) === canonicalExactJson(body ?? {});
  if (existing === null || typeof existing !== 'object' || !('body' in existing)) return false;
  return canonicalExactJson((existing as { body: unknown }).body) === bodyFingerprint(body);
}
