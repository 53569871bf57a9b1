/**
 * What a proxy in front passes on as the client sent it. Gateway mode removes or refuses these
 * before it forwards (`targets/headers.ts`, `targets/method-override.ts`); in decision mode the
 * proxy forwards and stepgate can remove nothing, so a check whose original request carries one
 * is refused instead:
 * - a method override: `_method` in the query (Symfony, Laravel) or an override header
 *   (`X-HTTP-Method-Override` …), which would let a caller allowed to POST reach a DELETE;
 * - a gateway header spelled with `_` (`X_Stepgate_Subject`): the proxies replace the `-`
 *   spellings with the answer's values, but none matches this one, and CGI, WSGI and Rack turn
 *   both into the same `HTTP_X_STEPGATE_SUBJECT`.
 * The body is not part of a check: a `_method` form field cannot be seen here (docs/mesh.md).
 */
import { GatewayError } from '../errors.ts';
import { isMethodOverrideHeader, refuseMethodOverride } from '../targets/method-override.ts';

/** Throws SG_ERR_METHOD_OVERRIDE or SG_ERR_BAD_HEADER (400) for what the proxy would pass on. */
export function refusePassThrough(search: string, headerNames: Iterable<string>): void {
  refuseMethodOverride(search, undefined, undefined);
  for (const name of headerNames) {
    const n = name.toLowerCase();
    if (isMethodOverrideHeader(n)) {
      throw new GatewayError('SG_ERR_METHOD_OVERRIDE', `the request carries ${n}, which the proxy would pass on`);
    }
    if (n.includes('_') && n.replaceAll('_', '-').startsWith('x-stepgate-')) {
      throw new GatewayError('SG_ERR_BAD_HEADER', `the request carries ${n}, a gateway header the proxy would pass on`);
    }
  }
}
