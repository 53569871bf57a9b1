/**
 * Signers built from the same `assertion.keys` agree (one JWKS, and each verifies the other's
 * assertions), and the rotation add → switch → remove never leaves a live assertion without its
 * key in the JWKS of any replica.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { loadAssertionKeys } from '../../src/config/assertion-keys.ts';
import type { Identity } from '../../src/identity/types.ts';
import { createAssertionSigner } from '../../src/targets/assertion.ts';

const ISSUER = 'https://gateway.example.com';
const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const A = pem();
const B = pem();

const caller: Identity = Object.freeze({
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
  expiresAt: Math.floor(Date.now() / 1000) + 600,
});

const signer = (...keys: string[]) =>
  createAssertionSigner(ISSUER, { keys: loadAssertionKeys({ keys: keys.map((key) => ({ key })) }) });

async function verifies(jwt: string, jwks: { keys: readonly object[] }): Promise<boolean> {
  try {
    await jwtVerify(jwt, createLocalJWKSet({ keys: [...jwks.keys] as never }), { issuer: ISSUER, audience: 'orders', algorithms: ['ES256'] });
    return true;
  } catch {
    return false;
  }
}

describe('assertion.keys across replicas', () => {
  test('two replicas with the same keys publish one JWKS and verify each other', async () => {
    const [one, two] = await Promise.all([signer(A, B), signer(A, B)]);
    assert.deepEqual(one.jwks, two.jwks);
    assert.equal(one.jwks.keys.length, 2);
    assert.ok(await verifies(await one.sign(caller, 'orders'), two.jwks));
    assert.ok(await verifies(await two.sign(caller, 'orders'), one.jwks));
  });

  test('generated keys (no assertion.keys) disagree: that is what check warns about', async () => {
    const [one, two] = await Promise.all([createAssertionSigner(ISSUER), createAssertionSigner(ISSUER)]);
    assert.equal(await verifies(await one.sign(caller, 'orders'), two.jwks), false);
  });

  test('rotation: add, switch, remove — during each step every replica verifies every live assertion', async () => {
    // A fleet mid-rollout runs the step before and the step after side by side.
    const steps = [[A], [A, B], [B, A], [B]];
    for (let i = 0; i + 1 < steps.length; i++) {
      const before = await signer(...steps[i]!);
      const afterStep = await signer(...steps[i + 1]!);
      for (const [from, to] of [[before, afterStep], [afterStep, before]] as const) {
        const jwt = await from.sign(caller, 'orders');
        assert.ok(await verifies(jwt, to.jwks), `step ${i}→${i + 1}: kid ${decodeProtectedHeader(jwt).kid} unknown to the other`);
      }
    }
    // Removing a key before the switch would not be: [A] signs what [B] cannot verify.
    assert.equal(await verifies(await (await signer(A)).sign(caller, 'orders'), (await signer(B)).jwks), false);
  });

  test('the switch: the first key signs', async () => {
    const [ab, ba] = await Promise.all([signer(A, B), signer(B, A)]);
    const kidOf = async (s: typeof ab) => decodeProtectedHeader(await s.sign(caller, 'orders')).kid;
    assert.equal(await kidOf(ab), ab.jwks.keys[0]!.kid);
    assert.equal(await kidOf(ba), ab.jwks.keys[1]!.kid);
  });
});
