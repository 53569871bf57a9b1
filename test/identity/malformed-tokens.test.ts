/**
 * Garbage in, a 401 out: whatever a client sends as a token, `verify` rejects with a GatewayError
 * of a 401 code (never a TypeError, never a 5xx), and no `detail` repeats the token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp, type TestIdp } from '../support/idp.ts';
import { forgeToken, issuerConfig } from '../support/issuer.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('malformed tokens', () => {
  let idp: TestIdp;
  let verifier: ReturnType<typeof createBearerVerifier>;

  before(async () => {
    idp = await startIdp({ preset: 'keycloak' });
    verifier = createBearerVerifier(
      [issuerConfig({ name: 'keycloak', issuer: idp.issuer, preset: 'keycloak' })],
      {
        fingerprintKey: 'test-fingerprint-key',
      },
    );
    await verifier.warm();
  });
  after(async () => {
    verifier.close();
    await idp.close();
  });

  it('are refused with a 401 code, not another kind of error', async () => {
    const valid = await idp.getToken();
    const [h, p] = valid.split('.') as [string, string, string];
    const header = b64(JSON.stringify({ alg: 'RS256', kid: idp.key.kid }));
    const payload = b64(JSON.stringify({ iss: idp.issuer, sub: 'x', aud: 'stepgate', exp: 2e9 }));
    const garbage = [
      '',
      '.',
      '..',
      'a.b.c',
      'not-a-jwt',
      `${h}.${p}`,
      `${h}.${p}.`,
      `${valid}.extra`,
      `${h}.${p}.${'A'.repeat(342)}`,
      `${b64('not json')}.${payload}.c2ln`,
      `${b64('[1,2]')}.${payload}.c2ln`,
      `${b64('null')}.${payload}.c2ln`,
      `${b64('"alg"')}.${payload}.c2ln`,
      `${header}.${b64('not json')}.c2ln`,
      `${header}.${b64('[]')}.c2ln`,
      `${header}.${b64('{"iss":{"toString":1}}')}.c2ln`,
      `${header}.${payload}.!!!`,
      `${header}.${payload}.c2ln`,
      `${b64('{"alg":"RS256","kid":{"a":1}}')}.${payload}.c2ln`,
      `${b64('{"alg":"RS256","kid":"x","crit":"b64"}')}.${payload}.c2ln`,
      `${b64('{"alg":["RS256"]}')}.${payload}.c2ln`,
      `${b64('{"alg":"RS256"}\u0000')}.${payload}.c2ln`,
      `${b64('\xff\xfe{}')}.${payload}.c2ln`,
      `${b64(JSON.stringify({ alg: 'RS256', kid: idp.key.kid, b64: false, crit: ['b64'] }))}.${payload}.c2ln`,
      `${header}.${b64(JSON.stringify({ iss: idp.issuer, pad: 'x'.repeat(40_000) }))}.c2ln`,
      forgeToken(
        { alg: 'RS256', kid: idp.key.kid, typ: 'JWT' },
        { iss: idp.issuer, sub: 'x', exp: 2e9, aud: 'stepgate' },
      ),
      'eyJ'.repeat(10_000),
    ];
    for (const token of garbage) {
      const err = await verifier.verify(token).then(
        () => assert.fail(`accepted ${token.slice(0, 60)}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof GatewayError, `not a GatewayError for ${token.slice(0, 60)}: ${String(err)}`);
      assert.equal(err.status, 401, `${err.code} for ${token.slice(0, 60)}`);
      if (token.length > 8) assert.ok(!err.detail.includes(token.slice(-8)), 'detail repeats the token');
    }
  });

  it('a non-string token is refused the same way', async () => {
    for (const token of [undefined, null, 42, {}]) {
      await assert.rejects(verifier.verify(token as unknown as string), { code: 'SG_ERR_INVALID_TOKEN' });
    }
  });
});
