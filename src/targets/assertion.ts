/**
 * `X-Stepgate-Assertion`: a short-lived ES256 JWT the gateway signs for every forwarded request,
 * so an upstream can verify who called without trusting the network. Its keys are served at
 * `/.well-known/stepgate/jwks.json`.
 */
import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { Identity } from '../identity/types.ts';

/** RFC 8725 §3.11: a short lifetime limits replay of a leaked assertion. */
const ASSERTION_TTL_SECONDS = 300;

export interface AssertionSigner {
  sign(identity: Identity, audience: string): Promise<string>;
  readonly jwks: { readonly keys: readonly JWK[] };
}

export async function createAssertionSigner(issuer: string): Promise<AssertionSigner> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = `sg-${randomUUID()}`;
  const jwks = Object.freeze({
    keys: Object.freeze([Object.freeze({ ...publicJwk, kid, alg: 'ES256', use: 'sig' })]),
  });
  const key: CryptoKey = privateKey;
  return {
    jwks,
    sign(identity, audience) {
      const payload: Record<string, unknown> = { idp: identity.iss };
      if (identity.clientId) payload['azp'] = identity.clientId;
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(identity.sub)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(
          Math.min(Math.floor(Date.now() / 1000) + ASSERTION_TTL_SECONDS, identity.expiresAt),
        )
        .sign(key);
    },
  };
}
