/**
 * `X-Stepgate-Assertion`: an ES256 JWT upstreams verify with the gateway's JWKS; from the second
 * request of a verified identity on, one signed assertion is reused per audience for at most
 * 30 s, and never once expired.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { Identity } from '../../src/identity/types.ts';
import { ASSERTION_REUSE_MS, createAssertionSigner, derToP1363 } from '../../src/targets/assertion.ts';

const T0 = 1_800_000_000_000;

function identity(fields: Partial<Identity> = {}): Identity {
  return Object.freeze({
    issuer: 'ci',
    iss: 'https://idp.example.com',
    sub: 'user-1',
    clientId: 'ci-bot',
    scopes: [],
    roles: [],
    groups: [],
    claims: {},
    authMethod: 'bearer',
    tokenId: 'jti-1',
    expiresAt: T0 / 1000 + 3600,
    ...fields,
  });
}

describe('identity assertion', () => {
  it('verifies with the published JWKS and names the caller and the target', async () => {
    const signer = await createAssertionSigner('https://gateway.example.com');
    const jwt = await signer.sign(identity({ expiresAt: Math.floor(Date.now() / 1000) + 600 }), 'orders');
    const { payload, protectedHeader } = await jwtVerify(
      jwt,
      createLocalJWKSet({ keys: [...signer.jwks.keys] }),
      {
        issuer: 'https://gateway.example.com',
        audience: 'orders',
        algorithms: ['ES256'],
      },
    );
    assert.equal(protectedHeader.kid, signer.jwks.keys[0]!.kid);
    assert.equal(payload.sub, 'user-1');
    assert.equal(payload['idp'], 'https://idp.example.com');
    assert.equal(payload['azp'], 'ci-bot');
    assert.ok(payload.jti);
    assert.ok(payload.exp! - payload.iat! <= 300);
  });

  it('is reused for the same identity and audience for at most 30 s', async () => {
    let now = T0;
    const signer = await createAssertionSigner('https://gw', { now: () => now });
    const caller = identity();
    const once = await signer.sign(caller, 'orders');
    const first = await signer.sign(caller, 'orders');
    assert.notEqual(first, once, 'an identity seen once keeps nothing');
    now = T0 + ASSERTION_REUSE_MS - 1;
    assert.equal(await signer.sign(caller, 'orders'), first);
    assert.notEqual(await signer.sign(caller, 'billing'), first, 'another audience, another assertion');
    assert.notEqual(await signer.sign(identity(), 'orders'), first, 'another identity, another assertion');
    now = T0 + ASSERTION_REUSE_MS;
    const renewed = await signer.sign(caller, 'orders');
    assert.notEqual(renewed, first);
    assert.equal(decodeJwt(renewed).iat, (T0 + ASSERTION_REUSE_MS) / 1000);
  });

  it('never outlives the token behind it, and is not handed out once expired', async () => {
    let now = T0;
    const signer = await createAssertionSigner('https://gw', { now: () => now });
    const caller = identity({ expiresAt: T0 / 1000 + 10 });
    await signer.sign(caller, 'orders');
    const first = await signer.sign(caller, 'orders');
    assert.equal(decodeJwt(first).exp, T0 / 1000 + 10);
    now = T0 + 10_000;
    assert.notEqual(await signer.sign(caller, 'orders'), first);
  });
});

describe('DER to JWS signature encoding', () => {
  const int = (bytes: number[]) => [0x02, bytes.length, ...bytes];
  const der = (r: number[], s: number[]) => {
    const body = [...int(r), ...int(s)];
    return Uint8Array.from([0x30, body.length, ...body]);
  };
  const full = (first: number) => [first, ...Array.from({ length: 31 }, (_, i) => i + 1)];

  it('drops the sign-padding zero and left-pads short integers to 32 bytes', () => {
    const padded = [0x00, ...full(0x80)];
    const short = [0x7f, 0x01];
    const out = derToP1363(der(padded, short));
    assert.equal(out.length, 64);
    assert.deepEqual([...out.subarray(0, 32)], full(0x80));
    assert.deepEqual([...out.subarray(32)], [...Array<number>(30).fill(0), 0x7f, 0x01]);
  });

  it('refuses what is not a DER P-256 signature', () => {
    assert.throws(() => derToP1363(Uint8Array.from([0x31, 0x00])), TypeError);
    assert.throws(() => derToP1363(der([1, ...full(0x80)], [1])), TypeError, 'r longer than 32 bytes');
    assert.throws(() => derToP1363(Uint8Array.from([...der([1], [1]), 0x00])), TypeError, 'trailing bytes');
  });

  it('produces signatures jose verifies, for many keys and messages', async () => {
    // Short r or s (a leading zero byte) come up about once in 128 signatures.
    for (let i = 0; i < 300; i++) {
      const signer = await createAssertionSigner('https://gw');
      const jwt = await signer.sign(
        identity({ sub: `user-${i}`, expiresAt: Math.floor(Date.now() / 1000) + 60 }),
        'a',
      );
      await jwtVerify(jwt, createLocalJWKSet({ keys: [...signer.jwks.keys] }), { audience: 'a' });
    }
  });
});
