import type { JWTPayload } from 'jose';

export type AuthMethod = 'bearer' | 'session';

/**
 * Who is calling, as verified. Every authenticated request has exactly one. `claims` is the
 * verified payload; the other fields are read from it by the issuer's preset.
 */
export interface Identity {
  /** The issuer's config name (`keycloak`), not its URL. */
  readonly issuer: string;
  /** The token's `iss`, exactly. */
  readonly iss: string;
  readonly sub: string;
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  readonly claims: Readonly<JWTPayload>;
  readonly authMethod: AuthMethod;
  /** The token's `jti`, or a keyed-hash prefix of the token; never the token. */
  readonly tokenId: string;
  /** `exp` in seconds since the epoch. */
  readonly expiresAt: number;
}

/** The caller key used wherever callers are compared: two issuers never collide on a `sub`. */
export function callerKey(identity: Pick<Identity, 'issuer' | 'sub'>): string {
  return `${identity.issuer}/${identity.sub}`;
}
