/**
 * Reads `assertion.keys` (PEM or JWK text, from a file or inline) into the keys the assertion
 * signer uses. Every replica given the same keys signs with the same first key and publishes the
 * same JWKS, so an upstream's cached JWKS verifies assertions from all of them. Problems name the
 * key path and never the key material.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ConfigProblem, ConfigError } from '../errors.ts';
import type { AssertionConfig } from './schema.ts';

/** A public JWK as published (RFC 7517), `kid`, `alg` and `use` included. */
export interface PublishedJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: 'ES256';
  readonly use: 'sig';
}

export interface AssertionKey {
  readonly kid: string;
  readonly publicJwk: PublishedJwk;
  /** Present for private keys; the first key always has one. */
  readonly privateKey: KeyObject | undefined;
}

type Entry = NonNullable<AssertionConfig['keys']>[number];

/** RFC 7638 §3.2: SHA-256 over the required members in lexicographic order, base64url. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

class KeyProblem extends Error {}

/** A private or public P-256 key from PEM (PKCS#8, SEC1, SPKI) or JWK text, with a JWK's `kid`. */
function parseKey(text: string): { key: KeyObject; isPrivate: boolean; jwkKid: string | undefined } {
  const trimmed = text.trim();
  let key: KeyObject;
  let jwkKid: string | undefined;
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as Record<string, unknown>;
      if (jwk['alg'] !== undefined && jwk['alg'] !== 'ES256') throw new KeyProblem('its JWK "alg" must be ES256');
      if (typeof jwk['kid'] === 'string') jwkKid = jwk['kid'];
      key = jwk['d'] !== undefined ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
    } else if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(trimmed)) {
      throw new KeyProblem('is encrypted: give an unencrypted PKCS#8 or SEC1 key (keep it in a secret)');
    } else if (/-----BEGIN (?:EC )?PRIVATE KEY-----/.test(trimmed)) {
      key = createPrivateKey(trimmed);
    } else if (/-----BEGIN PUBLIC KEY-----/.test(trimmed)) {
      key = createPublicKey(trimmed);
    } else {
      throw new KeyProblem('is neither a PEM key nor a JWK');
    }
  } catch (err) {
    // OpenSSL's and JSON's messages may quote the input; say what is wrong, never what it holds.
    if (err instanceof KeyProblem) throw err;
    throw new KeyProblem('is not a readable PEM key or JWK', { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new KeyProblem('must be an EC P-256 key: assertions are ES256');
  }
  return { key, isPrivate: key.type === 'private', jwkKid };
}

function readEntry(entry: Entry): string {
  if (entry.key !== undefined) return entry.key;
  try {
    return readFileSync(entry.file!, 'utf8');
  } catch (err) {
    throw new KeyProblem(`cannot read ${entry.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Every configured key, or every problem with its key path (`assertion.keys[1].file`). */
export function readAssertionKeys(assertion: AssertionConfig): { keys: AssertionKey[]; problems: ConfigProblem[] } {
  const keys: AssertionKey[] = [];
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, number>();
  (assertion.keys ?? []).forEach((entry, i) => {
    const at = `assertion.keys[${i}].${entry.key !== undefined ? 'key' : 'file'}`;
    try {
      const { key, isPrivate, jwkKid } = parseKey(readEntry(entry));
      if (i === 0 && !isPrivate) throw new KeyProblem('the first key signs: it must be a private key');
      const { x, y } = (isPrivate ? createPublicKey(key) : key).export({ format: 'jwk' }) as { x: string; y: string };
      const kid = entry.kid ?? jwkKid ?? jwkThumbprint({ crv: 'P-256', kty: 'EC', x, y });
      const first = seen.get(kid);
      if (first !== undefined) {
        problems.push({ path: `assertion.keys[${i}]`, message: `same kid "${kid}" as assertion.keys[${first}]` });
        return;
      }
      seen.set(kid, i);
      const publicJwk: PublishedJwk = Object.freeze({ kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' });
      keys.push({ kid, publicJwk, privateKey: isPrivate ? key : undefined });
    } catch (err) {
      if (!(err instanceof KeyProblem)) throw err;
      problems.push({ path: at, message: err.message });
    }
  });
  return { keys, problems };
}

/** The configured keys for the signer (`undefined`: none configured); throws `ConfigError`. */
export function loadAssertionKeys(assertion: AssertionConfig): AssertionKey[] | undefined {
  if (!assertion.keys) return undefined;
  const { keys, problems } = readAssertionKeys(assertion);
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}
