/**
 * What an execution receives. The request body must be JSON (or absent); the execution input is
 * either that body or the envelope (`../execution/envelope.ts`). Everything is serialized by
 * JSON.stringify, so claim values (quotes, newlines, NUL, U+2028, lone surrogates) stay data and
 * the input is always valid JSON.
 */
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { canonicalJson } from '../../policy/version.ts';
import { envelopeText, type RequestFacts } from '../execution/envelope.ts';
import { readJsonText } from '../execution/json-body.ts';

/** Step Functions' limit for an execution input: 256 KiB of UTF-8. */
export const MAX_INPUT_BYTES = 262_144;

export type InputMode = 'envelope' | 'body';

/**
 * The request body as a JSON value; `undefined` when there is none. Another media type is a 415,
 * a body that is not UTF-8 JSON a 400.
 */
export function parseJsonBody(contentType: string | undefined, body: unknown): unknown {
  const text = readJsonText(contentType, body);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new GatewayError('SG_ERR_INVALID_JSON', 'the body is not valid JSON', { cause: err });
  }
}

/** The execution input as JSON text; over 256 KiB is a 413, before AWS is called. */
export function buildInput(
  mode: InputMode,
  body: unknown,
  identity: Identity,
  request: RequestFacts,
): string {
  const input =
    mode === 'body'
      ? JSON.stringify(body ?? {})
      : envelopeText(body === undefined ? undefined : JSON.stringify(body), identity, request);
  const size = Buffer.byteLength(input);
  if (size > MAX_INPUT_BYTES) {
    throw new GatewayError(
      'SG_ERR_INPUT_TOO_LARGE',
      `the execution input would be ${size} bytes; Step Functions takes at most ${MAX_INPUT_BYTES}`,
    );
  }
  return input;
}

/**
 * Whether an existing execution's input carries the same request body (for `Idempotency-Key`):
 * compared as JSON values, so key order and whitespace do not matter; the envelope's `request`
 * part (a retry has its own id and time) is not compared.
 */
export function sameBody(mode: InputMode, existingInput: string | undefined, body: unknown): boolean {
  if (existingInput === undefined) return false;
  let existing: unknown;
  try {
    existing = JSON.parse(existingInput);
  } catch {
    return false;
  }
  if (mode === 'body') return canonicalJson(existing) === canonicalJson(body ?? {});
  if (existing === null || typeof existing !== 'object' || !('body' in existing)) return false;
  return canonicalJson((existing as { body: unknown }).body) === canonicalJson(body ?? null);
}
