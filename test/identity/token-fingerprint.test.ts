/**
 * The pieces of "one token, one fingerprint" as tables: which base64url spellings are canonical,
 * and ECDSA twins (r, s) and (r, n − s) on every curve giving one fingerprint.
 */
import assert from 'node:assert/strict';
import { createSecretKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { isCanonicalBase64url, tokenFingerprint } from '../../src/identity/token-fingerprint.ts';

describe('canonical base64url', () => {
  const cases: [string, boolean][] = [
    ['', true],
    ['AAAA', true],
    ['QQ', true], // "A": 0b010000|01 0000 — spare bits zero
    ['QR', false], // same byte, a spare bit set
    ['QUE', true],
    ['QUF', false],
    ['Q', false], // one character cannot encode a byte
    ['QQ==', false], // JWS forbids padding
    ['Q+', false],
    ['Q/', false],
    ['a b', false],
  ];
  for (const [segment, canonical] of cases) {
    it(`${JSON.stringify(segment)} → ${canonical}`, () => assert.equal(isCanonicalBase64url(segment), canonical));
  }
});

describe('ECDSA twins share a fingerprint', () => {
  const key = createSecretKey(Buffer.from('fingerprint-key-for-tests'));
  const curves = [
    ['ES256', 'P-256', 32, 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n],
    ['ES384', 'P-384', 48, 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n],
    [
      'ES512',
      'P-521',
      66,
      BigInt(
        '0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' +
          'fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
      ),
    ],
  ] as const;
  for (const [alg, curve, size, order] of curves) {
    it(alg, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const data = Buffer.from('header.payload');
      const signature = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const s = BigInt(`0x${signature.subarray(size).toString('hex')}`);
      const twinS = Buffer.from((order - s).toString(16).padStart(size * 2, '0'), 'hex');
      const twin = Buffer.concat([signature.subarray(0, size), twinS]);
      assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, twin), 'the twin verifies');
      const fp = tokenFingerprint(key, alg, signature.toString('base64url'));
      assert.match(fp, /^fp:[0-9a-f]{16}$/);
      assert.equal(tokenFingerprint(key, alg, twin.toString('base64url')), fp);
      assert.notEqual(tokenFingerprint(key, 'RS256', twin.toString('base64url')), fp, 'alg is part of it');
    });
  }
});
