/**
 * One token, one fingerprint. A token without a usable `jti` is audited under
 * `fp:<HMAC-SHA256 prefix>`, and that must name the token, not one way of writing it:
 *
 * - base64url has spare bits: the last character of a 256-byte RS256 signature (342 characters)
 *   carries 4 unused bits, so 16 spellings decode to the same bytes and all verify. Only the
 *   canonical spelling (unused bits zero, RFC 4648 §3.5; no padding, RFC 7515 §2) is accepted
 *   (`isCanonicalBase64url`), and the fingerprint is taken over the decoded bytes anyway;
 * - an ECDSA signature (r, s) also verifies as (r, n − s): the fingerprint takes the smaller s
 *   (as Bitcoin's "low-s" rule does), so both spellings give one fingerprint.
 *
 * The key (`audit.fingerprintKey`) keeps fingerprints from being linked across deployments.
 */
import { createHmac, type KeyObject } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether `segment` is base64url exactly as an encoder writes it: alphabet only, no padding, a
 * length an encoding can have, and zero bits after the last byte.
 */
export function isCanonicalBase64url(segment: string): boolean {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) return false;
  const rest = segment.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  // 2 characters carry 12 bits for 1 byte (4 spare), 3 carry 18 for 2 bytes (2 spare).
  const spare = rest === 2 ? 0b1111 : 0b11;
  return (ALPHABET.indexOf(segment.at(-1)!) & spare) === 0;
}

/** Orders of the curves of ES256, ES384 and ES512 (SEC 2 §2.4.2, §2.5.1, §2.6.1). */
const CURVE_ORDERS: Readonly<Record<string, bigint>> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384:
    0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512: BigInt(
    '0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' +
      'fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
  ),
};

const toBigInt = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);

/** The signature with an ECDSA `s` replaced by min(s, n − s); other algorithms as they are. */
function normalizedSignature(alg: string, signature: Buffer): Buffer {
  const order = CURVE_ORDERS[alg];
  if (order === undefined || signature.length % 2 !== 0) return signature;
  const half = signature.length / 2;
  const s = toBigInt(signature.subarray(half));
  if (s <= order / 2n) return signature;
  const low = (order - s).toString(16).padStart(half * 2, '0');
  return Buffer.concat([signature.subarray(0, half), Buffer.from(low, 'hex')]);
}

/**
 * `fp:` and 16 hex digits of HMAC-SHA256(key, alg ‖ decoded signature): the same for every
 * spelling of one signature. Only for tokens whose signature has been verified.
 */
export function tokenFingerprint(key: KeyObject, alg: string, signatureSegment: string): string {
  const signature = normalizedSignature(alg, Buffer.from(signatureSegment, 'base64url'));
  const mac = createHmac('sha256', key).update(`${alg}\0`).update(signature);
  return `fp:${mac.digest('hex').slice(0, 16)}`;
}

/**
 * `fp:` and 16 hex digits of HMAC-SHA256(key, token) for an opaque token (RFC 7662): it has no
 * signature to decode, and its issuer said it is active exactly as spelled.
 */
export function opaqueTokenFingerprint(key: KeyObject, token: string): string {
  return `fp:${createHmac('sha256', key).update(token).digest('hex').slice(0, 16)}`;
}
