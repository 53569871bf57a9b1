/**
 * nginx `auth_request` (ngx_http_auth_request_module). The subrequest is a GET to the configured
 * location with the client's headers; the location names the original request with
 * `proxy_set_header X-Original-Method $request_method` and `X-Original-URI $request_uri` (see
 * docs/mesh.md). nginx allows on any 2xx and copies nothing by itself: `auth_request_set`
 * reads the identity headers from the answer. It denies with the answer's status only for 401
 * (copying `WWW-Authenticate`) and 403; any other status is an error, which nginx turns into a
 * 500. So refusals are mapped onto the two it understands: a login redirect becomes 401 with its
 * `Location` (which `error_page 401` turns back into the redirect), other 4xx become 403. A 5xx
 * stays a 5xx: nginx answers 500 and refuses, as it should when stepgate cannot judge.
 */
import type { DecisionConfig } from '../config/schema.ts';
import { type DecisionProtocol, headerProtocol } from './protocol.ts';

export function nginxProtocol(config: NonNullable<DecisionConfig['nginx']>): DecisionProtocol {
  return headerProtocol('nginx', config, { method: 'x-original-method', uri: 'x-original-uri' }, (status) => {
    if (status === 401 || status === 403 || status >= 500) return status;
    return status >= 300 && status < 400 ? 401 : 403;
  });
}
