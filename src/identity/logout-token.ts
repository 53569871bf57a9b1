/**
 * OIDC Back-Channel Logout 1.0 §2.6: validating a Logout Token before any session is ended.
 * - signed by the `sso` issuer (keys from its JWKS only; `alg` from its allow-list), `iss`
 *   exact, `aud` our client id, `iat` and `exp` present and within the skew;
 * - typed `logout+jwt` (§2.4 recommends it) or plain `JWT` (Keycloak and others use it; the
 *   spec only recommends explicit typing); any other `typ` (`at+jwt`, …) is refused;
 * - `events` holds the back-channel-logout event as a JSON object; `sid` or `sub` present;
 *   a `nonce` is refused (§2.4: the event and the absence of a nonce are what tell it from an
 *   ID token, so no other JWT of the IdP can be replayed as a logout token);
 * - `jti` required and single-use (a replayed token ends nothing, and is refused).
 */
import { errors, jwtVerify } from 'jose';
import type { IssuerConfig } from '../config/schema.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import type { IssuerKeys } from './issuer-keys.ts';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export interface LogoutTokenVerifierOptions {
  readonly issuer: IssuerConfig;
  readonly clientId: string;
  readonly keys: IssuerKeys;
  /** True the first time a key is seen within `ttlSeconds`: the `jti` replay check. */
  readonly consumeOnce: (key: string, ttlSeconds: number) => Promise<boolean>;
  readonly now?: () => number;
}

/** Whose sessions a logout token ends: an IdP session (`sid`), a subject (`sub`), or both. */
export interface LogoutRequest {
  readonly sid?: string | undefined;
  readonly sub?: string | undefined;
}

const MAX_LOGOUT_TOKEN = 16_384;
/** `typ` values of a logout token (§2.4) or a plain JWT (RFC 7519 §5.1), compared case-insensitively. */
const LOGOUT_TOKEN_TYPES = new Set(['logout+jwt', 'application/logout+jwt', 'jwt', 'application/jwt']);

const refuse = (detail: string, cause?: unknown) =>
  new GatewayError(
    'SG_ERR_BAD_REQUEST',
    `logout token refused: ${detail}`,
    cause === undefined ? {} : { cause },
  );

function reason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `claim "${err.claim}" ${err.reason === 'missing' ? 'is missing' : 'is not valid'}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  return 'malformed';
}

export function createLogoutTokenVerifier(options: LogoutTokenVerifierOptions) {
  const { issuer, keys } = options;
  const now = options.now ?? Date.now;

  return async function verifyLogoutToken(token: string): Promise<LogoutRequest> {
    if (token.length > MAX_LOGOUT_TOKEN) throw refuse('too large');
    let payload: Record<string, unknown>;
    let typ: unknown;
    try {
      ({ payload, protectedHeader: { typ } } = await jwtVerify(token, keys.resolve, {
        issuer: issuer.issuer,
        audience: options.clientId,
        algorithms: [...issuer.algorithms],
        clockTolerance: issuer.clockSkewSeconds,
        requiredClaims: ['iat', 'exp', 'jti'],
        currentDate: new Date(now()),
      }));
    } catch (err) {
      if (isGatewayError(err)) throw err;
      throw refuse(reason(err), err);
    }
    if (typeof typ !== 'string' || !LOGOUT_TOKEN_TYPES.has(typ.toLowerCase()))
      throw refuse('typ is neither logout+jwt nor JWT');
    const events = payload['events'];
    const event =
      typeof events === 'object' && events !== null
        ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
        : undefined;
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      throw refuse('no back-channel logout event');
    if (Object.hasOwn(payload, 'nonce')) throw refuse('it carries a nonce');
    const sid = typeof payload['sid'] === 'string' && payload['sid'] !== '' ? payload['sid'] : undefined;
    const sub = typeof payload['sub'] === 'string' && payload['sub'] !== '' ? payload['sub'] : undefined;
    if (!sid && !sub) throw refuse('neither sid nor sub');
    const jti = payload['jti'];
    if (typeof jti !== 'string' || jti === '') throw refuse('claim "jti" is not valid');
    const exp = payload['exp'] as number;
    const ttl = Math.max(1, Math.ceil(exp - now() / 1000) + issuer.clockSkewSeconds);
    if (!(await options.consumeOnce(`logout-jti\0${issuer.issuer}\0${jti}`, ttl)))
      throw refuse('jti was used already');
    return { sid, sub };
  };
}
