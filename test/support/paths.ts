/**
 * Generated request targets for the path-normalization properties, and how WHATWG URL (an
 * independent parser) resolves one, compared as `test/policy/normalize-path.property.test.ts`
 * explains.
 */
import fc from 'fast-check';

export const SEED = 20_260_801;

/** Pieces that exercise every branch: dots, escapes (good, bad, of reserved and unreserved). */
const PIECES = [
  '/', '/', '/', '.', '..', 'a', 'B', '0', '-', '_', '~', '%2e', '%2E', '%2f', '%5C', '%41', '%7e', '%7E', '%3b',
  '%25', '%zz', '%', '%2', '%C3%A9', '%c3%a9', '%c3', '%E2%82%AC', '%00', '%20', '[', ']', '|', '^', '{', '"', "'",
  '!', '$', '&', '(', '*', '+', ',', '=', ':', '@', ';', '\\', 'é', '€',
];

/** Request targets in origin form: a path of pieces, sometimes a query. */
export const requestTarget = fc
  .tuple(fc.array(fc.constantFrom(...PIECES), { maxLength: 14 }), fc.option(fc.constantFrom('?x=1', '?a=%zz&b=../c', '?')))
  .map(([pieces, query]) => `/${pieces.join('')}${query ?? ''}`);

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const PCHAR_RAW = /[A-Za-z0-9\-._~!$&'()*+,=:@/%]/;

/** RFC 3986 §6.2.2 on an already-parsed path: what stepgate's canonical form adds to WHATWG's. */
function rfc3986Normalized(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const escape = path.slice(i, i + 3);
    if (/^%[0-9A-Fa-f]{2}$/.test(escape)) {
      const char = String.fromCharCode(parseInt(escape.slice(1), 16));
      out += UNRESERVED.test(char) ? char : escape.toUpperCase();
      i += 2;
    } else if (PCHAR_RAW.test(path[i]!)) {
      out += path[i];
    } else {
      out += [...Buffer.from(path[i]!, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    }
  }
  return out;
}

/** How WHATWG URL resolves the path of `target`, compared as above. */
export function whatwgPath(target: string): string {
  const path = target.split('?')[0]!.replace(/\/{2,}/g, '/');
  return rfc3986Normalized(new URL(path, 'http://gateway.example').pathname);
}
