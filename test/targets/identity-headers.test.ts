/**
 * Identity header encoding: no two identities give the same header (a property, checked with
 * fast-check over arbitrary Unicode), and the encoding is what the README says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isGatewayError } from '../../src/errors.ts';
import { encodeIdentityList, encodeIdentityValue } from '../../src/targets/identity-headers.ts';

/** Values an identity can hold: well-formed Unicode without control characters. */
const value = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s));
/** Strings that stress the encoding: escapes, separators, look-alikes. */
const tricky = fc
  .array(fc.constantFrom('%', '2', 'C', 'c', ',', ' ', '+', 'ó', 'b', '%C3%B3', '%2C', '%25', 'a', '😀', ':', '/', '@'), {
    maxLength: 6,
  })
  .map((parts) => parts.join(''));
const item = fc.oneof(value, tricky).filter((s) => s !== '');
const SEED = 20_260_801;

/** Plain RFC 3986 percent-decoding, as an upstream would read a header. */
const decode = (text: string) => decodeURIComponent(text);

describe('identity header encoding', () => {
  it('is injective on single values, and decodes back to the value', () => {
    fc.assert(
      fc.property(fc.oneof(value, tricky), fc.oneof(value, tricky), (a, b) => {
        const ea = encodeIdentityValue(a);
        assert.equal(decode(ea), a);
        if (a !== b) assert.notEqual(ea, encodeIdentityValue(b));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('is injective on lists, for both separators, and never sends an empty header', () => {
    for (const separator of [' ', ','] as const) {
      fc.assert(
        fc.property(fc.array(item, { maxLength: 4 }), fc.array(item, { maxLength: 4 }), (a, b) => {
          const ea = encodeIdentityList(a, separator);
          const eb = encodeIdentityList(b, separator);
          if (a.length === 0) assert.equal(ea, undefined);
          else assert.deepEqual(ea!.split(separator).map(decode), a);
          if (JSON.stringify(a) !== JSON.stringify(b)) assert.notEqual(ea, eb);
          if (ea !== undefined) assert.notEqual(ea, '');
        }),
        { seed: SEED, numRuns: 3000 },
      );
    }
  });

  it('keeps a small safe set as it is and escapes everything else, % and the separators first', () => {
    assert.equal(encodeIdentityValue('repo:acme/app:ref:refs/heads/main'), 'repo:acme/app:ref:refs/heads/main');
    assert.equal(encodeIdentityValue('bot+ci@example.com'), 'bot%2Bci@example.com');
    assert.equal(encodeIdentityValue('bób'), 'b%C3%B3b');
    assert.equal(encodeIdentityValue('b%C3%B3b'), 'b%25C3%25B3b');
    assert.equal(encodeIdentityList(['eng,admins'], ','), 'eng%2Cadmins');
    assert.equal(encodeIdentityList(['eng', 'admins'], ','), 'eng,admins');
    assert.equal(encodeIdentityList(['x%2Cadmins'], ','), 'x%252Cadmins');
    assert.equal(encodeIdentityList(['a b', 'c'], ' '), 'a%20b c');
  });

  it('refuses what has no faithful encoding: control characters and lone surrogates', () => {
    for (const bad of ['a\r\nb', 'tab\there', '\u0085', 'x\ud800', '\udfffy']) {
      assert.throws(
        () => encodeIdentityValue(bad),
        (err: unknown) => isGatewayError(err) && err.code === 'SG_ERR_BAD_HEADER',
        JSON.stringify(bad),
      );
    }
  });
});
