/**
 * RFC 8725 attacks against bearer verification, each against a real IdP: a token must verify with
 * a key of the issuer it names, fetched from that issuer only, under an allowed algorithm, and be
 * an access token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createBearerVerifier } from '../../src/identity/verify-bearer.ts';
import { startIdp, type TestIdp } from '../support/idp.ts';
import {
  createSigningKey,
  forgeToken,
  issuerConfig,
  signToken,
  startIssuer,
  type TestIssuer,
} from '../support/issuer.ts';

describe('token confusion attacks are refused', () => {
  let idp: TestIdp;
  let attacker: TestIssuer;
  let verifier: ReturnType<typeof createBearerVerifier>;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    [idp, attacker] = await Promise.all([startIdp({ preset: 'keycloak' }), startIssuer()]);
    verifier = createBearerVerifier(
      [issuerConfig({ name: 'keycloak', issuer: idp.issuer, preset: 'keycloak' })],
      {
        fingerprintKey: 'test-fingerprint-key',
      },
    );
    // The genuine article verifies, so every refusal below is about the attack.
    await verifier.verify(await idp.signWithIdpKey());
  });
  after(async () => {
    verifier.close();
    await Promise.all([idp.close(), attacker.close()]);
  });

  const claims = () => ({ iss: idp.issuer, aud: 'stepgate', sub: 'admin', iat: now(), exp: now() + 300 });

  it('alg none', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const token = forgeToken({ alg, kid: idp.key.kid }, claims());
      await assert.rejects(verifier.verify(`${token}c2ln`), { code: 'SG_ERR_INVALID_TOKEN' }, alg);
      await assert.rejects(verifier.verify(token), { code: 'SG_ERR_INVALID_TOKEN' }, alg);
    }
  });

  it('HS256 signed with the IdP’s RSA public key as the secret', async () => {
    for (const secret of [idp.key.publicPem, JSON.stringify(idp.key.publicJwk)]) {
      const token = forgeToken({ alg: 'HS256', kid: idp.key.kid, typ: 'JWT' }, claims(), {
        hmacSecret: secret,
      });
      await assert.rejects(verifier.verify(token), { code: 'SG_ERR_INVALID_TOKEN' });
    }
  });

  it('an algorithm outside the issuer’s allow-list, even with a valid signature', async () => {
    const es = await createSigningKey('ES256');
    const only = createBearerVerifier(
      [
        issuerConfig({
          name: 'rs-only',
          issuer: attacker.issuer,
          jwksUri: attacker.jwksUri,
          algorithms: ['RS256'],
        }),
      ],
      { fingerprintKey: 'k' },
    );
    try {
      attacker.serveJwks({ keys: [attacker.key.publicJwk, es.publicJwk] });
      await assert.rejects(only.verify(await signToken(es, attacker.issuer)), {
        code: 'SG_ERR_INVALID_TOKEN',
      });
      assert.equal((await only.verify(await attacker.sign())).issuer, 'rs-only');
    } finally {
      only.close();
      await attacker.rotateKeys();
    }
  });

  it('a valid token of another issuer that claims our iss (same kid, other kid, no kid)', async () => {
    for (const kid of [idp.key.kid, 'attacker-kid', undefined]) {
      const token = await attacker.sign({ iss: idp.issuer }, { kid });
      await assert.rejects(verifier.verify(token), { code: 'SG_ERR_INVALID_TOKEN' }, String(kid));
    }
  });

  it('an issuer that is not configured', async () => {
    await assert.rejects(verifier.verify(await attacker.sign()), { code: 'SG_ERR_WRONG_ISSUER' });
    // iss compared exactly: a trailing slash or another case is another issuer.
    for (const iss of [`${idp.issuer}/`, idp.issuer.toUpperCase(), undefined, 42]) {
      await assert.rejects(verifier.verify(await idp.signWithIdpKey({ iss })), {
        code: 'SG_ERR_WRONG_ISSUER',
      });
    }
  });

  it('keys embedded in or pointed to by the header (jwk, jku, x5u, x5c)', async () => {
    const headers = [
      { jwk: attacker.key.publicJwk },
      { jku: attacker.jwksUri },
      { x5u: `${attacker.issuer}/cert.pem` },
      { x5c: ['MIIB'] },
    ];
    const fetchedBefore = attacker.jwksRequests();
    for (const header of headers) {
      // Signed by the attacker with the key it points to…
      const forged = await attacker.sign({ iss: idp.issuer }, header);
      await assert.rejects(verifier.verify(forged), { code: 'SG_ERR_INVALID_TOKEN' });
      // …and even by the real IdP key: the member alone is refused.
      await assert.rejects(verifier.verify(await idp.signWithIdpKey({}, header)), {
        code: 'SG_ERR_INVALID_TOKEN',
      });
    }
    assert.equal(attacker.jwksRequests(), fetchedBefore, 'the jku was never fetched');
  });

  it('an unknown crit header member', async () => {
    const token = await idp.signWithIdpKey(
      {},
      { crit: ['urn:example:must-understand'], 'urn:example:must-understand': 1 },
    );
    await assert.rejects(verifier.verify(token), { code: 'SG_ERR_INVALID_TOKEN' });
  });

  it('an ID token signed by the real IdP key', async () => {
    for (const extra of [
      { nonce: 'n-0S6_WzA2Mj' },
      { at_hash: '77QmUPtjPfzWtF2AnpK9RQ' },
      { c_hash: 'LDktKdoQak3Pk0cnXxCltA' },
      { typ: 'ID' },
    ]) {
      const token = await idp.signWithIdpKey({ azp: 'stepgate', ...extra }, { typ: 'JWT' });
      await assert.rejects(verifier.verify(token), { code: 'SG_ERR_INVALID_TOKEN' }, JSON.stringify(extra));
    }
  });

  it('Keycloak refresh and logout tokens', async () => {
    for (const typ of ['Refresh', 'Offline', 'Logout']) {
      await assert.rejects(
        verifier.verify(await idp.signWithIdpKey({ typ })),
        { code: 'SG_ERR_INVALID_TOKEN' },
        typ,
      );
    }
  });

  it('a typ header other than JWT or at+jwt', async () => {
    for (const typ of ['dpop+jwt', 'logout+jwt', 'secevent+jwt', 'JOSE', '', 7]) {
      await assert.rejects(
        verifier.verify(await idp.signWithIdpKey({}, { typ })),
        { code: 'SG_ERR_INVALID_TOKEN' },
        String(typ),
      );
    }
    for (const typ of ['JWT', 'jwt', 'at+jwt', 'AT+JWT', 'application/at+jwt', undefined]) {
      assert.ok(await verifier.verify(await idp.signWithIdpKey({}, { typ })), String(typ));
    }
  });
});
