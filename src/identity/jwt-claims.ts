/**
 * The registered claims of a bearer token whose signature verified (RFC 7519 §4.1), checked as
 * jose's `jwtVerify` checks them for the options stepgate gave it (`issuer`, `audience`,
 * `clockTolerance`, `requiredClaims: [exp, iss, sub]`; jose 6, `validateClaimsSet`): the same
 * claims present, the same comparisons, the same error classes with the same `claim` — so the
 * 401 codes and the rejection cache (verify-bearer.ts) cannot tell the difference. The checks
 * jose never made (`sub` not empty, `iat` ahead, ID tokens) stay in verify-bearer.ts.
 */
import { errors, type JWTPayload } from 'jose';

export interface ClaimRules {
  /** The token's `iss` must be exactly this. */
  readonly issuer: string;
  /** The token's `aud` (a string or a list) must hold one of these. */
  readonly audiences: readonly string[];
  /** Clock skew allowed on `nbf` and `exp`. */
  readonly skewSeconds: number;
}

/** In jose's order: the option claims (`iss`, `aud`), then the required ones. */
const REQUIRED = ['iss', 'aud', 'sub', 'exp'] as const;

const failed = (payload: JWTPayload, claim: string, message: string, reason = 'check_failed') =>
  new errors.JWTClaimValidationFailed(message, payload, claim, reason);

/** A NumericDate claim (RFC 7519 §2): absent, or a number. */
function numericDate(payload: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw failed(payload, claim, `"${claim}" claim must be a number`, 'invalid');
  return value;
}

/** Throws jose's `JWTClaimValidationFailed` or `JWTExpired` unless `payload` satisfies `rules` at `nowSeconds`. */
export function checkRegisteredClaims(payload: JWTPayload, rules: ClaimRules, nowSeconds: number): void {
  for (const claim of REQUIRED) {
    if (!Object.hasOwn(payload, claim)) throw failed(payload, claim, `missing required "${claim}" claim`, 'missing');
  }
  if (payload.iss !== rules.issuer) throw failed(payload, 'iss', 'unexpected "iss" claim value');
  const { aud } = payload;
  const audienceHeld =
    typeof aud === 'string' ? rules.audiences.includes(aud) : Array.isArray(aud) && rules.audiences.some((a) => aud.includes(a));
  if (!audienceHeld) throw failed(payload, 'aud', 'unexpected "aud" claim value');
  numericDate(payload, 'iat');
  const nbf = numericDate(payload, 'nbf');
  if (nbf !== undefined && nbf > nowSeconds + rules.skewSeconds) throw failed(payload, 'nbf', '"nbf" claim timestamp check failed');
  const exp = numericDate(payload, 'exp');
  if (exp !== undefined && exp <= nowSeconds - rules.skewSeconds) {
    throw new errors.JWTExpired('"exp" claim timestamp check failed', payload, 'exp', 'check_failed');
  }
}
