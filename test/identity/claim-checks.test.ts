/**
 * Claims checked after the signature (RFC 7519 §4.1, RFC 9068 §4): aud, exp, nbf and iat against
 * the skew, exp and sub required — all with tokens signed by the real IdP key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp, type TestIdp } from '../support/idp.ts';
import { issuerConfig } from '../support/issuer.ts';

describe('claims of a correctly signed token', () => {
  let idp: TestIdp;
  let verifier: ReturnType<typeof createBearerVerifier>;
  const now = () => Math.floor(Date.now() / 1000);
  const SKEW = 30;

  before(async () => {
    idp = await startIdp({ preset: 'okta' });
    verifier = createBearerVerifier(
      [
        issuerConfig({
          name: 'okta',
          issuer: idp.issuer,
          preset: 'okta',
          audiences: ['stepgate', 'api://orders'],
          clockSkewSeconds: SKEW,
        }),
      ],
      { fingerprintKey: 'test-fingerprint-key' },
    );
  });
  after(async () => {
    verifier.close();
    await idp.close();
  });

  it('aud must hold one of the configured audiences', async () => {
    const sign = (aud: unknown) => idp.signWithIdpKey({ aud });
    await assert.rejects(verifier.verify(await sign('other')), { code: 'SG_ERR_WRONG_AUDIENCE' });
    await assert.rejects(verifier.verify(await sign(['other', 'more'])), { code: 'SG_ERR_WRONG_AUDIENCE' });
    await assert.rejects(verifier.verify(await sign(undefined)), { code: 'SG_ERR_WRONG_AUDIENCE' });
    await assert.rejects(verifier.verify(await sign('Stepgate')), { code: 'SG_ERR_WRONG_AUDIENCE' });
    assert.ok(await verifier.verify(await sign('api://orders')));
    assert.ok(await verifier.verify(await sign(['other', 'stepgate'])));
  });

  it('an expired token, beyond the skew', async () => {
    const token = await idp.signWithIdpKey({ iat: now() - 600, exp: now() - SKEW - 5 });
    await assert.rejects(verifier.verify(token), { code: 'SG_ERR_TOKEN_EXPIRED', status: 401 });
    assert.ok(await verifier.verify(await idp.signWithIdpKey({ exp: now() - SKEW + 10 })), 'within the skew');
  });

  it('nbf in the future beyond the skew', async () => {
    await assert.rejects(verifier.verify(await idp.signWithIdpKey({ nbf: now() + SKEW + 60 })), {
      code: 'SG_ERR_INVALID_TOKEN',
    });
    assert.ok(await verifier.verify(await idp.signWithIdpKey({ nbf: now() + SKEW - 10 })), 'within the skew');
  });

  it('iat in the future beyond the skew', async () => {
    await assert.rejects(verifier.verify(await idp.signWithIdpKey({ iat: now() + SKEW + 60 })), {
      code: 'SG_ERR_INVALID_TOKEN',
    });
    assert.ok(await verifier.verify(await idp.signWithIdpKey({ iat: now() + SKEW - 10 })), 'within the skew');
  });

  it('exp is required and must be a number', async () => {
    for (const exp of [undefined, String(now() + 300), null]) {
      await assert.rejects(
        verifier.verify(await idp.signWithIdpKey({ exp })),
        { code: 'SG_ERR_INVALID_TOKEN' },
        String(exp),
      );
    }
  });

  it('sub is required and must be a non-empty string', async () => {
    for (const sub of [undefined, '', 42, ['a']]) {
      await assert.rejects(
        verifier.verify(await idp.signWithIdpKey({ sub })),
        { code: 'SG_ERR_INVALID_TOKEN' },
        String(sub),
      );
    }
  });

  it('nbf and iat of the wrong type', async () => {
    await assert.rejects(verifier.verify(await idp.signWithIdpKey({ nbf: 'soon' })), {
      code: 'SG_ERR_INVALID_TOKEN',
    });
    await assert.rejects(verifier.verify(await idp.signWithIdpKey({ iat: 'now' })), {
      code: 'SG_ERR_INVALID_TOKEN',
    });
  });
});
