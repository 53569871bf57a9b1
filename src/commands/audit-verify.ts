/**
 * `stepgate audit verify FILE`: exit 0 when the hash chain is intact, 1 at the first broken line,
 * 2 when the file cannot be read (an unreadable file is not evidence of tampering).
 */
import { verifyAuditFile } from '../audit/verify.ts';
import { InputError } from './input-error.ts';

export async function auditVerify(
  file: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  let result: Awaited<ReturnType<typeof verifyAuditFile>>;
  try {
    result = await verifyAuditFile(file);
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (result.ok) {
    // The last hash is worth keeping elsewhere: a chain cannot show a cut-off tail (chain.ts).
    const last = result.lastHash ? `; last hash ${result.lastHash}` : '';
    out.write(`${file}: intact: ${result.lines} records, hash chain unbroken${last}\n`);
    return 0;
  }
  const why = (result.message ?? '').replace(/^line \d+: /, '');
  out.write(`${file}: broken at line ${result.brokenLine}: ${why}\n`);
  return 1;
}
