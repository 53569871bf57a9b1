/**
 * What every execution target (Step Functions, Argo Workflows) names the same way. A name is
 * `<caller tag>-<suffix>`:
 * - the caller tag is 26 base32 characters of sha256 over `<issuer>/<sub>`, so an execution
 *   carries who started it in its name, and "did this caller start it?" is answered from the ARN
 *   alone, without a lookup and on any replica;
 * - the suffix is `k` + 32 base32 characters of sha256 over caller, route and `Idempotency-Key`
 *   (the same key from the same caller on the same route is the same execution), or `r` + the
 *   request id when there is no key.
 * Only `[a-z2-7]`, `-` and the request id's lowercase hex, 60 characters: a valid Step Functions
 * name (Standard or Express: `0-9A-Za-z-_`, at most 80) and a valid Argo workflow name (a
 * Kubernetes DNS-1123 label, at most 63).
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../../errors.ts';
import { callerKey, type Identity } from '../../identity/types.ts';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32 (lowercase, no padding) of `bytes`, cut to `length` characters. */
export function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    if (out.length >= length) break;
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0 && out.length < length) out += BASE32[(buffer << (5 - bits)) & 31];
  return out.slice(0, length);
}

function digest(...parts: string[]): Buffer {
  // Length-prefixed, so no choice of sub, route or key can move text from one part to another.
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${Buffer.byteLength(part)}:${part}`);
  return hash.digest();
}

/** 130 bits: a collision between two callers is out of reach. */
const TAG_LENGTH = 26;
const KEY_HASH_LENGTH = 32;

export function callerTag(identity: Pick<Identity, 'issuer' | 'sub'>): string {
  return callerTagOf(callerKey(identity));
}

/** The tag of a caller key (`<issuer>/<sub>`, see `callerKey`). */
export function callerTagOf(caller: string): string {
  return base32(digest('stepgate-caller-v1', caller), TAG_LENGTH);
}

/** Whether an execution name says `identity` started it. */
export function startedBy(name: string, identity: Pick<Identity, 'issuer' | 'sub'>): boolean {
  return name.startsWith(`${callerTag(identity)}-`);
}

/** Longest `Idempotency-Key` accepted (the IETF draft leaves it to the server; Stripe takes 255). */
export const MAX_IDEMPOTENCY_KEY = 255;

/**
 * The `Idempotency-Key` of a request (draft-ietf-httpapi-idempotency-key-header: an RFC 8941
 * String, `"…"`; a bare token is taken too, as most clients send one). `undefined` when absent;
 * a 400 when unusable: repeated, empty, too long, or holding anything but visible ASCII.
 */
export function idempotencyKey(rawHeaders: readonly string[]): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'idempotency-key') continue;
    if (value !== undefined) throw badKey('send one Idempotency-Key header');
    value = rawHeaders[i + 1]!;
  }
  if (value === undefined) return undefined;
  let key = value.trim();
  if (key.startsWith('"')) {
    const m = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/.exec(key);
    if (!m) throw badKey('a quoted Idempotency-Key must be a valid structured-field string');
    key = m[1]!.replace(/\\(["\\])/g, '$1');
  }
  if (key.length === 0) throw badKey('the Idempotency-Key is empty');
  if (key.length > MAX_IDEMPOTENCY_KEY)
    throw badKey(`the Idempotency-Key is longer than ${MAX_IDEMPOTENCY_KEY} characters`);
  if (!/^[\x20-\x7e]+$/.test(key)) throw badKey('the Idempotency-Key may hold only visible ASCII characters');
  return key;
}

function badKey(detail: string): GatewayError {
  return new GatewayError('SG_ERR_BAD_IDEMPOTENCY_KEY', detail);
}

export interface NameInput {
  readonly identity: Pick<Identity, 'issuer' | 'sub'>;
  readonly route: string;
  readonly key: string | undefined;
  readonly requestId: string;
}

export function executionName(input: NameInput): string {
  const tag = callerTag(input.identity);
  if (input.key !== undefined) {
    const hash = base32(
      digest('stepgate-idempotency-v1', callerKey(input.identity), input.route, input.key),
      KEY_HASH_LENGTH,
    );
    return `${tag}-k${hash}`;
  }
  const id = input.requestId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 40);
  return `${tag}-r${id || base32(digest(input.requestId), KEY_HASH_LENGTH)}`;
}
