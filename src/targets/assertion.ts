/**
 * `X-Stepgate-Assertion`: a short-lived ES256 JWT the gateway signs for every forwarded request,
 * so an upstream can verify who called without trusting the network. Its keys are served at
 * `/.well-known/stepgate/jwks.json`. With `assertion.keys` configured every replica signs with
 * the first and publishes all of them (rotation: add, switch, remove); without, the process
 * generates one key at start, which only a single process can use.
 *
 * The assertion says who the caller is, not which request it came with (`X-Request-Id` does
 * that), so one signed assertion is reused for the same verified identity and audience for up to
 * `ASSERTION_REUSE_MS`, as a client reuses its access token — the way IAP and Pomerium
 * assertions name a caller or session. Its `jti` names the assertion. Signing is synchronous
 * node:crypto over a header encoded once: an ECDSA signature per caller and target every 30 s
 * instead of one per request, and each one about twice as fast as through WebCrypto or
 * `sign()` with `dsaEncoding` (which costs Node an options object and a re-encoding, ~15 µs).
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import type { JWK } from 'jose';
import type { AssertionKey } from '../config/assertion-keys.ts';
import type { Identity } from '../identity/types.ts';

/** RFC 8725 §3.11: a short lifetime limits replay of a leaked assertion. */
const ASSERTION_TTL_SECONDS = 300;
/** How long one signed assertion is reused; it stays valid at least 270 s after its last use. */
export const ASSERTION_REUSE_MS = 30_000;

export interface AssertionSigner {
  sign(identity: Identity, audience: string): Promise<string>;
  readonly jwks: { readonly keys: readonly JWK[] };
}

export interface AssertionSignerOptions {
  /** Clock in milliseconds since the epoch; `Date.now` by default. */
  readonly now?: () => number;
  /** `assertion.keys` as read by `loadAssertionKeys`: the first signs, all are published. */
  readonly keys?: readonly AssertionKey[] | undefined;
}

interface Signed {
  readonly jwt: string;
  readonly reuseUntilMs: number;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

const P256_BYTES = 32;

/**
 * An ECDSA P-256 signature from DER (`SEQUENCE { INTEGER r, INTEGER s }`, RFC 3279 §2.2.3) to
 * the fixed-size `r || s` JWS wants (RFC 7518 §3.4): each integer left-padded to 32 bytes, its
 * sign-padding zero dropped.
 */
export function derToP1363(der: Uint8Array): Buffer {
  // P-256 signatures are at most 72 bytes: the sequence length always fits in one byte.
  if (der[0] !== 0x30 || der[1]! >= 0x80 || der[1] !== der.length - 2)
    throw new TypeError('not a DER ECDSA signature');
  const out = Buffer.alloc(2 * P256_BYTES);
  let offset = 2;
  for (let i = 0; i < 2; i++) {
    if (der[offset] !== 0x02) throw new TypeError('not a DER ECDSA signature');
    const length = der[offset + 1]!;
    let start = offset + 2;
    let size = length;
    while (size > P256_BYTES && der[start] === 0) {
      start++;
      size--;
    }
    if (size > P256_BYTES || start + size > der.length) throw new TypeError('not a P-256 ECDSA signature');
    out.set(der.subarray(start, start + size), i * P256_BYTES + P256_BYTES - size);
    offset += 2 + length;
  }
  if (offset !== der.length) throw new TypeError('not a DER ECDSA signature');
  return out;
}

/** The configured keys (the first signs, all are published), or one generated for this process. */
function signingKeys(keys: readonly AssertionKey[] | undefined): {
  privateKey: KeyObject;
  kid: string;
  published: readonly JWK[];
} {
  const [first] = keys ?? [];
  if (first) {
    if (!first.privateKey) throw new TypeError('the first assertion key signs: it must be a private key');
    return { privateKey: first.privateKey, kid: first.kid, published: keys!.map((key) => key.publicJwk) };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `sg-${randomUUID()}`;
  const jwk = Object.freeze({ ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256', use: 'sig' });
  return { privateKey, kid, published: [jwk] };
}

export async function createAssertionSigner(
  issuer: string,
  options: AssertionSignerOptions = {},
): Promise<AssertionSigner> {
  const now = options.now ?? Date.now;
  const { privateKey, kid, published } = signingKeys(options.keys);
  const jwks = Object.freeze({ keys: Object.freeze(published) });
  const header = b64({ alg: 'ES256', typ: 'JWT', kid });
  /**
   * Per audience, by identity object (the verified-token cache hands out one per token). An
   * identity seen once is only marked (`null`): a token used once, the worst case for the cache,
   * then holds no assertion in memory; from its second request on, one is kept and reused.
   */
  const reused = new Map<string, WeakMap<Identity, Signed | null>>();

  function signNew(identity: Identity, audience: string, nowMs: number): Signed {
    const iat = Math.floor(nowMs / 1000);
    const payload: Record<string, unknown> = { idp: identity.iss };
    if (identity.clientId) payload['azp'] = identity.clientId;
    payload['iss'] = issuer;
    payload['aud'] = audience;
    payload['sub'] = identity.sub;
    // The whole identity, so an upstream never has to parse headers to learn it: `scope` as
    // RFC 9068 §2.2.3 spells it (space-separated), `roles` and `groups` as arrays (§7.2.1.1).
    if (identity.scopes.length > 0) payload['scope'] = identity.scopes.join(' ');
    payload['roles'] = identity.roles;
    payload['groups'] = identity.groups;
    payload['jti'] = randomUUID();
    payload['iat'] = iat;
    const exp = Math.min(iat + ASSERTION_TTL_SECONDS, identity.expiresAt);
    payload['exp'] = exp;
    const input = `${header}.${b64(payload)}`;
    const signature = derToP1363(sign('sha256', Buffer.from(input), privateKey));
    return {
      jwt: `${input}.${signature.toString('base64url')}`,
      // Never handed out once expired (an identity whose token ends sooner ends it sooner).
      reuseUntilMs: Math.min(nowMs + ASSERTION_REUSE_MS, exp * 1000),
    };
  }

  return {
    jwks,
    async sign(identity, audience) {
      const nowMs = now();
      let byIdentity = reused.get(audience);
      if (!byIdentity) {
        byIdentity = new WeakMap();
        reused.set(audience, byIdentity);
      }
      const cached = byIdentity.get(identity);
      if (cached && nowMs < cached.reuseUntilMs) return cached.jwt;
      const signed = signNew(identity, audience, nowMs);
      byIdentity.set(identity, cached === undefined ? null : signed);
      return signed.jwt;
    },
  };
}
