/**
 * Attacker-influenced values (claim values, issuer names) quoted in a decision's `failed` text,
 * which reaches the caller, the logs and the audit: control, line-separator and bidi characters
 * are dropped, the length capped, and the result JSON-quoted so it cannot break out of its quotes.
 */

/** Characters a reader must not see raw: C0/C1 controls, U+2028/9, bidi embeddings and isolates. */
// Control characters in this regex are intended: finding control characters is the point.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export const MAX_DESCRIBED_LENGTH = 64;

/** `"refs/heads/dev"`; a long value ends in `…` after 64 characters. */
export function describeClaimValue(value: string): string {
  let text = value.replace(UNSAFE, '');
  if (text.length > MAX_DESCRIBED_LENGTH) {
    let cut = MAX_DESCRIBED_LENGTH;
    // Never split a surrogate pair.
    const code = text.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    text = `${text.slice(0, cut)}…`;
  }
  return JSON.stringify(text);
}
