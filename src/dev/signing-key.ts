/**
 * Signing keys for the embedded IdP (and the tests' token issuers): one asymmetric key pair,
 * exported in every form its users need.
 */
import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: CryptoKey;
  /** Public JWK with `kid`, `alg` and `use`, as a JWKS lists it. */
  readonly publicJwk: JWK;
  /** The private JWK (oidc-provider's `jwks` wants these). */
  readonly privateJwk: JWK;
  /** SPKI PEM of the public key: the classic HS256 confusion secret. */
  readonly publicPem: string;
}

/** A fresh extractable key pair for `alg`, named `kid` (a random UUID by default). */
export async function createSigningKey(
  alg: 'RS256' | 'ES256' = 'RS256',
  kid = randomUUID(),
): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const meta = { kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), ...meta },
    privateJwk: { ...(await exportJWK(privateKey)), ...meta },
    publicPem: await exportSPKI(publicKey),
  };
}
