/**
 * The signature check with node:crypto (src/identity/signature.ts) and the registered-claim checks
 * (src/identity/jwt-claims.ts) that replace jose's `jwtVerify`: every algorithm of the table
 * verifies what it should and nothing else; a key imported for another algorithm, a short RSA
 * key or a `crit` header is refused; and the claim checks agree with jose's on every case.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { createLocalJWKSet, errors, exportJWK, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import type { IssuerKeys } from '../../src/identity/issuer-keys.ts';
import { checkRegisteredClaims } from '../../src/identity/jwt-claims.ts';
import { p1363ToDer, verifySignature } from '../../src/identity/signature.ts';
import { derToP1363 } from '../../src/targets/assertion.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An `IssuerKeys` over a fixed JWKS, resolved by jose as the real one is. */
function keysOf(jwks: readonly JWK[]): IssuerKeys {
  const resolve = createLocalJWKSet({ keys: [...jwks] });
  return { resolve, isReady: () => true, lastError: () => undefined, generation: 0, warm: async () => {}, close() {} };
}

/** An `IssuerKeys` that hands out `key` whatever the header says (to test what signature.ts itself refuses). */
function handing(key: unknown): IssuerKeys {
  return { ...keysOf([]), resolve: async () => key as never };
}

async function token(alg: string, privateKey: KeyObject, header: Record<string, unknown> = {}) {
  return new SignJWT({ sub: 's' }).setProtectedHeader({ alg, kid: 'k', ...header }).sign(privateKey);
}

const split = (jwt: string) => {
  const parts = jwt.split('.');
  return { parts, header: JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as Record<string, unknown> };
};

const pairs = {
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  RS512: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  PS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  EdDSA: () => generateKeyPairSync('ed25519'),
} as const;

describe('verifySignature', () => {
  for (const [alg, make] of Object.entries(pairs)) {
    it(`${alg}: a good signature holds; one bit off, or another key's, does not`, async () => {
      const { privateKey, publicKey } = make();
      const other = make();
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg };
      const jwt = await token(alg, privateKey);
      const { parts, header } = split(jwt);
      await verifySignature(parts, header, keysOf([jwk]));
      const flipped = Buffer.from(parts[2]!, 'base64url');
      flipped[5]! ^= 1;
      await assert.rejects(verifySignature([parts[0]!, parts[1]!, flipped.toString('base64url')], header, keysOf([jwk])), errors.JWSSignatureVerificationFailed);
      const otherJwk = { ...(await exportJWK(other.publicKey)), kid: 'k', alg };
      await assert.rejects(verifySignature(parts, header, keysOf([otherJwk])), errors.JWSSignatureVerificationFailed);
    });
  }

  it('no kid and several keys: each is tried; none holding is a failed signature', async () => {
    const [a, b, c] = [pairs.RS256(), pairs.RS256(), pairs.RS256()];
    const jwks = [await exportJWK(a.publicKey), await exportJWK(b.publicKey)];
    const { parts, header } = split(await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).sign(b.privateKey));
    await verifySignature(parts, header, keysOf(jwks));
    const forged = split(await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).sign(c.privateKey));
    const failed = errors.JWSSignatureVerificationFailed;
    await assert.rejects(verifySignature(forged.parts, forged.header, keysOf(jwks)), failed);
  });

  it('a key imported for another algorithm is never used (RS256 token, RSA-PSS or RS512 key)', async () => {
    const { privateKey, publicKey } = pairs.RS256();
    const { parts, header } = split(await token('RS256', privateKey));
    const jwk = await exportJWK(publicKey);
    for (const alg of ['PS256', 'RS512']) {
      const wrong = await importJWK({ ...jwk, alg }, alg);
      await assert.rejects(verifySignature(parts, header, handing(wrong)), errors.JOSENotSupported, alg);
    }
    const es = pairs.ES256();
    await assert.rejects(verifySignature(parts, header, handing(es.publicKey)), errors.JOSENotSupported, 'not a CryptoKey');
  });

  it('an RSA key under 2048 bits is refused, even with a good signature', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const input = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ sub: 's' })}`;
    const jwt = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    const { parts, header } = split(jwt);
    const short = await crypto.subtle.importKey('jwk', await exportJWK(publicKey), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
    await assert.rejects(verifySignature(parts, header, handing(short)), errors.JOSENotSupported);
  });

  it('alg none, HS256 and anything outside the table; any crit header', async () => {
    const { privateKey, publicKey } = pairs.RS256();
    const jwks = [{ ...(await exportJWK(publicKey)), kid: 'k' }];
    const { parts } = split(await token('RS256', privateKey));
    for (const alg of ['none', 'HS256', 'rs256', 'ML-DSA-44', '']) {
      await assert.rejects(verifySignature(parts, { alg, kid: 'k' }, keysOf(jwks)), errors.JOSEAlgNotAllowed, alg);
    }
    for (const crit of [['b64'], ['exp'], []]) {
      await assert.rejects(verifySignature(parts, { alg: 'RS256', kid: 'k', crit, b64: true }, keysOf(jwks)), errors.JWSInvalid);
    }
  });
});

describe('p1363ToDer', () => {
  it('gives back the DER OpenSSL wrote, for 300 P-256 signatures (leading zeros, high bits); refuses other sizes', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 300; i++) {
      const der = sign('sha256', Buffer.from(`message ${i}`), privateKey);
      assert.deepEqual(p1363ToDer(derToP1363(der), 32), der);
    }
    for (const size of [0, 63, 65, 96]) assert.equal(p1363ToDer(Buffer.alloc(size, 1), 32), undefined);
  });
});

describe('checkRegisteredClaims agrees with jose’s jwtVerify', () => {
  const now = 1_900_000_000;
  const rules = { issuer: 'https://idp', audiences: ['stepgate', 'other'], skewSeconds: 30 };
  const base = { iss: 'https://idp', aud: 'stepgate', sub: 's', exp: now + 60 };
  const cases: Record<string, unknown>[] = [
    base,
    { ...base, aud: ['x', 'other'] },
    { ...base, aud: ['x'] },
    { ...base, aud: 'x' },
    { ...base, aud: 7 },
    { ...base, aud: undefined },
    { ...base, iss: 'https://idp/' },
    { ...base, iss: undefined },
    { ...base, sub: undefined },
    { ...base, exp: undefined },
    { ...base, exp: String(now + 60) },
    { ...base, exp: now - 30 },
    { ...base, exp: now - 29 },
    { ...base, nbf: now + 30 },
    { ...base, nbf: now + 31 },
    { ...base, nbf: 'soon' },
    { ...base, iat: 'then' },
    { ...base, iat: now + 3600 },
  ];
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const outcome = (error: unknown) =>
    error === undefined ? 'ok' : `${(error as Error).constructor.name}:${(error as { claim?: string }).claim}:${(error as { reason?: string }).reason}`;

  for (const claims of cases) {
    it(JSON.stringify(claims), async () => {
      const payload = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>;
      const jwt = `${b64({ alg: 'ES256' })}.${b64(payload)}`;
      const signed = `${jwt}.${sign('sha256', Buffer.from(jwt), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      const options = { issuer: rules.issuer, audience: rules.audiences, clockTolerance: 30, requiredClaims: ['exp', 'iss', 'sub'], currentDate: new Date(now * 1000) };
      const jose = await jwtVerify(signed, publicKey, options).then(() => undefined, (e: unknown) => e);
      let ours: unknown;
      try {
        checkRegisteredClaims(payload, rules, now);
      } catch (e) {
        ours = e;
      }
      assert.equal(outcome(ours), outcome(jose));
    });
  }
});
