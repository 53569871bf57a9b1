/**
 * Envoy's HTTP `ext_authz` (envoy.extensions.filters.http.ext_authz.v3, `HttpService`), which is
 * also what Istio's `envoyExtAuthzHttp` extension provider configures.
 *
 * The check request (ext_authz.proto, `HttpService` and `allowed_headers`): the client's method,
 * `path_prefix` + the client's path and query as the path, its `Host`, `Authorization`,
 * `Content-Length: 0` and no body, plus the headers listed in `allowed_headers`
 * (Istio: `includeRequestHeadersInCheck`). The answer: 200 allows, and the headers matched by
 * `allowed_upstream_headers` (Istio: `headersToUpstreamOnAllow`) are set on the upstream request,
 * replacing the client's; any other status denies, and Envoy sends that status, its headers
 * (`allowed_client_headers`, by default all but Host) and its body to the client.
 */
import type { DecisionConfig } from '../config/schema.ts';
import { checkedMethod, checkedTarget, type DecisionProtocol } from './protocol.ts';

export function envoyProtocol(config: NonNullable<DecisionConfig['envoy']>): DecisionProtocol {
  const { pathPrefix } = config;
  return {
    name: 'envoy',
    upstreamHeaders: config.upstreamHeaders,
    handles: (path) => path.startsWith(`${pathPrefix}/`),
    original: (check) => ({
      method: checkedMethod(check.method),
      target: checkedTarget(check.url.slice(pathPrefix.length)),
    }),
    // Envoy passes any status on to the client, with its headers and body.
    refusalStatus: (status) => status,
  };
}
