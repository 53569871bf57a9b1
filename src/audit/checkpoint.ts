/**
 * Signed checkpoints (`audit.checkpoints`): the hash chain shows an edited line only to someone
 * who cannot recompute every later hash, and it cannot show lines cut from the end. A checkpoint
 * is a line in the chain, written every `everyRecords` records or `everySeconds` seconds and at
 * shutdown (`"final": true`), whose Ed25519 signature covers its `prevHash`: the head of the
 * chain, and through it every line before. Rewriting a line then means forging a signature, and
 * a file that does not end with a final checkpoint was cut (or its writer did not stop cleanly).
 * Verifiers need only the public key.
 *
 *   {"v":1,"type":"checkpoint","time":"…","final":true,"keyId":"<RFC 7638 thumbprint>",
 *    "alg":"Ed25519","prevHash":"<head>","signature":"<base64url>","hash":"…"}
 *
 * signature = Ed25519(`stepgate-audit-checkpoint:v1\n` ‖ canonical JSON of the line without
 * `signature` and `hash`); `hash` chains as for any record (chain.ts).
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from '../canonical-json.ts';

/** What a checkpoint's signature is over, before the canonical JSON: no other message can pass. */
const CONTEXT = 'stepgate-audit-checkpoint:v1\n';

export interface CheckpointContent {
  readonly v: 1;
  readonly type: 'checkpoint';
  readonly time: string;
  /** Written when the log was closed: nothing follows from this writer. */
  readonly final?: true;
  readonly keyId: string;
  readonly alg: 'Ed25519';
  /** The chain head the signature covers. */
  readonly prevHash: string;
}

export interface Checkpoint extends CheckpointContent {
  readonly signature: string;
}

export interface CheckpointSigner {
  readonly keyId: string;
  /** A checkpoint over `head` (the chain's last hash); the audit log chains it like a record. */
  checkpoint(head: string, options: { readonly time: Date; readonly final: boolean }): Checkpoint;
}

/** The RFC 7638 JWK thumbprint of an Ed25519 public key: how a checkpoint names its key. */
export function keyIdOf(publicKey: KeyObject): string {
  const { crv, kty, x } = publicKey.export({ format: 'jwk' });
  const members = JSON.stringify({ crv, kty, x });
  return createHash('sha256').update(members).digest('base64url');
}

export function createCheckpointSigner(privateKey: KeyObject): CheckpointSigner {
  const keyId = keyIdOf(createPublicKey(privateKey));
  return {
    keyId,
    checkpoint(head, { time, final }) {
      const content: CheckpointContent = {
        v: 1,
        type: 'checkpoint',
        time: time.toISOString(),
        ...(final ? { final: true as const } : {}),
        keyId,
        alg: 'Ed25519',
        prevHash: head,
      };
      const signature = sign(null, Buffer.from(CONTEXT + canonicalJson(content)), privateKey);
      return { ...content, signature: signature.toString('base64url') };
    },
  };
}

/** True for a line written as a checkpoint (whether or not its signature holds). */
export function isCheckpoint(record: unknown): record is Checkpoint {
  return (record as { type?: unknown } | null)?.type === 'checkpoint';
}

/** Whether `record`'s signature, by `publicKey`, covers everything it says (its head included). */
export function checkpointSignatureHolds(record: Record<string, unknown>, publicKey: KeyObject): boolean {
  const { signature, hash: _hash, ...content } = record;
  if (typeof signature !== 'string' || !/^[A-Za-z0-9_-]+$/.test(signature)) return false;
  return verify(null, Buffer.from(CONTEXT + canonicalJson(content)), publicKey, Buffer.from(signature, 'base64url'));
}
