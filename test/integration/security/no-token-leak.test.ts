/**
 * No token, in whole or in part, appears in any output: audit records, logs at trace level,
 * responses, or what the upstream receives. Every token this file uses is collected and searched
 * for in everything captured.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { allCaptures, startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIdp, type TestIdp } from '../../support/idp.ts';
import { forgeToken } from '../../support/issuer.ts';
import { rawGet } from '../../support/raw-http.ts';

let idp: TestIdp;
let upstream: EchoUpstream;
let gateway: TestGateway;
const tokens: string[] = [];
const responses: string[] = [];

before(async () => {
  idp = await startIdp({ preset: 'keycloak' });
  upstream = await startEchoUpstream();
  gateway = await startGateway({
    issuers: [{ name: 'kc', issuer: idp.issuer, audiences: ['stepgate'], preset: 'keycloak' }],
    targets: { api: { type: 'http', url: upstream.url } },
    routes: [
      { name: 'read', path: '/api/*', methods: ['GET'], target: 'api', allow: { scopes: ['orders:read'] } },
      {
        name: 'write',
        path: '/api/*',
        methods: ['POST'],
        target: 'api',
        allow: { scopes: ['orders:write'] },
      },
    ],
    audit: { claims: ['email', 'preferred_username', 'azp', 'jti', 'sub'] },
    logging: { level: 'trace' },
  });
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await upstream.close();
  await idp.close();
});

async function send(path: string, token: string, headerLines: string[] = []) {
  tokens.push(token);
  const res = await rawGet(gateway.url, path, [`Authorization: Bearer ${token}`, ...headerLines]);
  responses.push(res.raw);
  return res;
}

describe('tokens never leak', () => {
  it('through allowed, denied, expired, forged and misplaced requests', async () => {
    const good = await idp.getToken({ clientId: 'ci-bot' });
    const reader = await idp.getToken({ clientId: 'reader' });
    assert.equal((await send('/api/orders', good)).status, 200);
    assert.equal((await send('/api/orders', reader, ['X-Debug: 1'])).status, 200);
    assert.equal((await send('/nowhere', good)).status, 404);
    const expired = await idp.signWithIdpKey({ sub: 'x', scope: 'orders:read', exp: 1000, iat: 900 });
    assert.equal((await send('/api/orders', expired)).status, 401);
    const wrongAud = await idp.signWithIdpKey({ sub: 'x', scope: 'orders:read', aud: 'other' });
    assert.equal((await send('/api/orders', wrongAud)).status, 401);
    const forged = forgeToken(
      { alg: 'none', typ: 'JWT' },
      { iss: idp.issuer, sub: 'root', aud: 'stepgate', exp: 9e9 },
    );
    assert.equal((await send('/api/orders', forged)).status, 401);
    const badSig = `${good.slice(0, -10)}AAAAAAAAAA`;
    assert.equal((await send('/api/orders', badSig)).status, 401);
    const idToken = await idp.signWithIdpKey({ sub: 'x', nonce: 'n', typ: 'ID' });
    assert.equal((await send('/api/orders', idToken)).status, 401);
    // A token in the query string is refused, and the query is never logged or audited.
    tokens.push(reader);
    const inQuery = await rawGet(gateway.url, `/api/orders?access_token=${reader}`, [
      `Authorization: Bearer ${reader}`,
    ]);
    responses.push(inQuery.raw);
    assert.equal(inQuery.status, 400);
  });

  it('in any captured output', async () => {
    await gateway.auditRecords();
    const outputs: [string, string][] = [
      ...allCaptures.map((c, i) => [`capture ${i}`, c.text()] as [string, string]),
      ...responses.map((r, i) => [`response ${i}`, r] as [string, string]),
      ...upstream.received.map((r, i) => [`upstream request ${i}`, JSON.stringify(r)] as [string, string]),
    ];
    assert.ok(
      allCaptures.some((c) => c.text().includes('"requestId"')),
      'the captures hold records',
    );
    for (const token of tokens) {
      const signature = token.split('.')[2] ?? '';
      for (const [where, text] of outputs) {
        assert.ok(!text.includes(token), `a token appears in ${where}`);
        if (signature.length > 16)
          assert.ok(!text.includes(signature), `a token signature appears in ${where}`);
      }
    }
  });
});
