/**
 * Sealing: authenticated encryption (AES-256-GCM) of small JSON values, for cookies and for
 * session records at rest. Each seal draws a fresh 96-bit nonce (NIST SP 800-38D §8.2.2), so
 * writing the same value twice never yields the same bytes. The key comes from the configured
 * secret through HKDF-SHA256 (RFC 5869) with a purpose label, so one secret never keys two uses.
 * `aad` binds a sealed value to where it belongs (a cookie's name, a Redis key): moved
 * elsewhere, it no longer opens.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealer {
  /** `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`: cookie-safe. */
  seal(value: unknown, aad: string): string;
  /** The value, or `undefined` when the text was not sealed by this key for this `aad`. */
  open(text: string, aad: string): unknown;
}

/** A 256-bit key for `purpose`, derived from `secret` (RFC 5869). */
export function deriveKey(secret: string | Uint8Array, purpose: string): Buffer {
  const ikm = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  return Buffer.from(hkdfSync('sha256', ikm, 'stepgate', `stepgate ${purpose}`, 32));
}

export function createSealer(key: Uint8Array): Sealer {
  if (key.length !== 32) throw new TypeError('a sealing key is 32 bytes');
  return {
    seal(value, aad) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open(text, aad) {
      if (!text.startsWith(`${VERSION}.`)) return undefined;
      const raw = Buffer.from(text.slice(VERSION.length + 1), 'base64url');
      if (raw.length < NONCE_BYTES + TAG_BYTES + 1) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES), {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return JSON.parse(plain.toString('utf8')) as unknown;
      } catch {
        // A wrong key, a flipped bit, a truncated value: all the same to the caller.
        return undefined;
      }
    },
  };
}
