/**
 * What an execution receives: the request body (`input: body`) or the envelope
 * (`../execution/envelope.ts`), as JSON text within Step Functions' size limit. The body was read
 * by `parseJsonBody` (`../execution/json-body.ts`): its numbers reach the execution as written.
 */
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { envelopeText, type RequestFacts } from '../execution/envelope.ts';
import type { InputMode } from '../execution/json-body.ts';

/** Step Functions' limit for an execution input: 256 KiB of UTF-8. */
export const MAX_INPUT_BYTES = 262_144;

/** The execution input as JSON text; over 256 KiB is a 413, before AWS is called. */
export function buildInput(
  mode: InputMode,
  body: unknown,
  identity: Identity,
  request: RequestFacts,
): string {
  const input = mode === 'body' ? JSON.stringify(body ?? {}) : envelopeText(body, identity, request);
  const size = Buffer.byteLength(input);
  if (size > MAX_INPUT_BYTES) {
    throw new GatewayError(
      'SG_ERR_INPUT_TOO_LARGE',
      `the execution input would be ${size} bytes; Step Functions takes at most ${MAX_INPUT_BYTES}`,
    );
  }
  return input;
}
