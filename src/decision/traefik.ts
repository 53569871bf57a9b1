/**
 * Traefik `forwardAuth` (pkg/middlewares/auth/forward.go). The check is a GET to `address` with the
 * client's headers, and `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri` (`req.URL.RequestURI()`)
 * and `-For` set by Traefik (with `trustForwardHeader: false` the client's copies are deleted
 * first). A 2xx allows: the headers named in `authResponseHeaders`, or matched by
 * `authResponseHeadersRegex`, are deleted from the client's request and copied from the answer.
 * Any other status is passed on to the client with the answer's headers and body; a `Location`
 * is resolved against `address` unless `preserveLocationHeader`, which is why login redirects
 * from the decision listener are absolute.
 */
import type { DecisionConfig } from '../config/schema.ts';
import { type DecisionProtocol, headerProtocol } from './protocol.ts';

/** Traefik passes every refusal on as it is. */
export function traefikProtocol(config: NonNullable<DecisionConfig['traefik']>): DecisionProtocol {
  return headerProtocol('traefik', config, { method: 'x-forwarded-method', uri: 'x-forwarded-uri' });
}
