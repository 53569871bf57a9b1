/**
 * The Ed25519 key of `audit.checkpoints` (the writer's private key) and the public key
 * `stepgate audit verify --key` checks with, from PEM (PKCS#8 or SPKI) or JWK text. Errors say
 * what is wrong, never the key material.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Reads a key from PEM (PKCS#8 or SPKI) or JWK text; `publicOnly` derives the public key from a
 * private one. Throws an Error that says what is wrong, never the key material.
 */
function parseKey(text: string, publicOnly: boolean): KeyObject {
  const trimmed = text.trim();
  const input = trimmed.startsWith('{')
    ? { key: JSON.parse(trimmed) as Record<string, unknown> & { kty?: string }, format: 'jwk' as const }
    : trimmed;
  let key: KeyObject;
  if (publicOnly) key = createPublicKey(input as Parameters<typeof createPublicKey>[0]);
  else key = createPrivateKey(input as Parameters<typeof createPrivateKey>[0]);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`is a ${key.asymmetricKeyType ?? 'symmetric'} key; checkpoints are signed with Ed25519`);
  }
  return key;
}

function describeKeyError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith('is a ') ? message : 'is not a PEM or JWK key';
}

export interface CheckpointKeySource {
  /** A PEM or JWK file. */
  readonly keyFile?: string | undefined;
  /** PEM or JWK text, typically `${STEPGATE_AUDIT_CHECKPOINT_KEY}`. */
  readonly key?: string | undefined;
}

/** The private key of `audit.checkpoints`; throws an Error naming the problem (not the key). */
export function loadCheckpointKey(source: CheckpointKeySource): KeyObject {
  let text: string;
  if (source.keyFile !== undefined) {
    try {
      text = readFileSync(source.keyFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${source.keyFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  } else if (source.key !== undefined) {
    text = source.key;
  } else {
    throw new Error('needs keyFile or key');
  }
  try {
    return parseKey(text, false);
  } catch (err) {
    throw new Error(describeKeyError(err).replace(/^is /, 'the key is '), { cause: err });
  }
}

/** The public key a verifier is given (`--key FILE`: PEM or JWK, public or private). */
export function loadCheckpointPublicKey(file: string): KeyObject {
  const text = readFileSync(file, 'utf8');
  try {
    return parseKey(text, true);
  } catch (err) {
    throw new Error(`${file} ${describeKeyError(err)}`, { cause: err });
  }
}
