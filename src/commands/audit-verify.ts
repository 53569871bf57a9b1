/**
 * `stepgate audit verify FILE [--key PUBLIC_KEY_FILE]`: exit 0 when the hash chain is intact
 * (and, with checkpoints, every signature holds and the file ends with a final checkpoint), 1 at
 * the first broken line, 2 when the file or the key cannot be read (an unreadable file is not
 * evidence of tampering).
 */
import type { KeyObject } from 'node:crypto';
import { type VerifyResult, verifyAuditFile } from '../audit/verify.ts';
import { loadCheckpointPublicKey } from '../config/checkpoint-key.ts';
import { InputError } from './input-error.ts';

export async function auditVerify(
  file: string,
  keyFile?: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  let publicKey: KeyObject | undefined;
  if (keyFile !== undefined) {
    try {
      publicKey = loadCheckpointPublicKey(keyFile);
    } catch (err) {
      throw new InputError(`cannot use --key ${(err as Error).message.replace(/^cannot read /, '')}`, { cause: err });
    }
  }
  let result: VerifyResult;
  try {
    result = await verifyAuditFile(file, publicKey ? { publicKey } : {});
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (result.ok) {
    const records = result.lines - result.checkpoints;
    out.write(`${file}: intact: ${records} records, hash chain unbroken; ${describeCheckpoints(result)}\n`);
    return 0;
  }
  const why = (result.message ?? '').replace(/^line \d+: /, '');
  out.write(`${file}: broken at line ${result.brokenLine}: ${why}\n`);
  return 1;
}

/** What an intact file's checkpoints say, and what to anchor elsewhere (README "Audit record"). */
function describeCheckpoints(result: VerifyResult): string {
  const last = result.lastCheckpoint;
  if (!last) {
    // A chain cannot show a cut-off tail by itself: its last hash is worth keeping elsewhere.
    const hash = result.lastHash ? `; last hash ${result.lastHash}` : '';
    return `no checkpoints, so lines cut from the end would not show${hash}`;
  }
  const signatures = result.keyId
    ? `signatures verified (key ${result.keyId})`
    : 'signatures NOT checked (give --key PUBLIC_KEY_FILE)';
  return (
    `${result.checkpoints} checkpoint(s), ${signatures}; ` +
    `last checkpoint at line ${last.line} (${last.final ? 'final' : 'not final'}, ${last.time}), hash ${last.hash}`
  );
}
