/**
 * Reading the bearer token off a request (RFC 6750) and building its challenge. One token
 * transport only: the `Authorization` header. Tokens in the query string (RFC 6750 §2.3) leak
 * into logs and Referer headers and are refused rather than ignored.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Longest token accepted; larger ones are refused before any decoding. */
export const MAX_TOKEN_LENGTH = 16_384;

/** `Bearer` (any case), one or more spaces, then an RFC 6750 §2.1 b64token. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
/** A compact JWS (RFC 7515 §7.1): three base64url segments, the signature not empty. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const QUERY_TOKEN_HINT = /access(?:_|%5f)token/i;

function countAuthorization(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') count++;
  }
  return count;
}

/** True when the query string (with or without its leading `?`) carries `access_token`. */
function hasQueryToken(query: string): boolean {
  if (query === '' || !QUERY_TOKEN_HINT.test(query)) return false;
  return new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).has('access_token');
}

/**
 * The bearer token of a request. Throws `GatewayError`:
 * - `SG_ERR_BAD_REQUEST` for `access_token` in the query string (RFC 6750 §2.3 not supported),
 * - `SG_ERR_MISSING_TOKEN` when there is no `Authorization` header or its scheme is not Bearer
 *   (no bearer credentials were offered, so a session may still authenticate the request),
 * - `SG_ERR_INVALID_TOKEN` for several `Authorization` headers, or a token that is not a
 *   well-formed b64token shaped like a compact JWS.
 *
 * `rawHeaders` is needed because Node keeps only the first of repeated `Authorization` headers.
 * With `allowOpaque` (an issuer introspects opaque tokens, RFC 7662) any b64token is returned.
 */
export function extractBearer(
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  query: string,
  allowOpaque = false,
): string {
  if (hasQueryToken(query)) {
    throw new GatewayError(
      'SG_ERR_BAD_REQUEST',
      'access tokens in the query string are not accepted; send an Authorization: Bearer header',
    );
  }
  const value = headers.authorization;
  const count = countAuthorization(rawHeaders);
  if (count > 1) throw new GatewayError('SG_ERR_INVALID_TOKEN', 'more than one Authorization header');
  if (value === undefined || value === '') {
    throw new GatewayError('SG_ERR_MISSING_TOKEN', 'no Authorization header');
  }
  if (value.length > MAX_TOKEN_LENGTH + 16) throw new GatewayError('SG_ERR_INVALID_TOKEN', 'token too large');
  const match = BEARER.exec(value);
  if (!match) {
    if (!/^bearer(?:\s|$)/i.test(value)) {
      throw new GatewayError('SG_ERR_MISSING_TOKEN', 'Authorization scheme is not Bearer');
    }
    throw new GatewayError('SG_ERR_INVALID_TOKEN', 'malformed bearer token');
  }
  const token = match[1]!;
  if (!allowOpaque && !COMPACT_JWS.test(token)) {
    throw new GatewayError('SG_ERR_INVALID_TOKEN', 'bearer token is not a JWT (compact JWS)');
  }
  return token;
}

/** RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
function quotable(text: string): string {
  return text
    .replaceAll('"', "'")
    .replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, ' ')
    .slice(0, 200);
}

/**
 * The `WWW-Authenticate` value of a 401 or 403 (RFC 6750 §3). With no `error`, the request
 * carried no credentials and the challenge says only where to authenticate.
 */
export function bearerChallenge(
  error?: 'invalid_token' | 'insufficient_scope',
  description?: string,
): string {
  let challenge = 'Bearer realm="stepgate"';
  if (error) challenge += `, error="${error}"`;
  if (error && description) challenge += `, error_description="${quotable(description)}"`;
  return challenge;
}
