/**
 * `assertion.keys` and a config reload: the key files are read again, so a rotated secret takes
 * effect on SIGHUP (add a key: it is published; switch: it signs), and a key file gone bad is a
 * refused reload that keeps the keys in use. Without `assertion.keys` a reload keeps the
 * generated key, so upstreams' cached JWKS stay valid.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { parseConfig } from '../../../src/config/load.ts';
import { rawRequest } from '../../support/decision.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer } from '../../support/issuer.ts';

const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stepgate-rotate-'));
});
after(() => rm(dir, { recursive: true, force: true }));

function document(files: string[] | undefined): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    audit: { sinks: [{ type: 'stdout' }] },
    logging: { level: 'info' },
    targets: { t: { type: 'http', url: 'http://127.0.0.1:9' } },
    routes: [{ name: 's', path: '/s', target: 't', public: true }],
    ...(files ? { assertion: { keys: files.map((file) => ({ file: join(dir, file), kid: file })) } } : {}),
  };
}

const kids = async (gateway: TestGateway) =>
  ((await (await fetch(`${gateway.url}/.well-known/stepgate/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);

describe('assertion keys on reload', () => {
  test('add, switch, remove by reload; a bad key file keeps the keys in use', async () => {
    await writeFile(join(dir, 'a'), pem());
    await writeFile(join(dir, 'b'), pem());
    const gateway = await startGateway(document(['a']));
    after(() => gateway.close());
    assert.deepEqual(await kids(gateway), ['a']);
    await gateway.app.stepgate.reload(parseConfig(document(['a', 'b']), {}));
    assert.deepEqual(await kids(gateway), ['a', 'b']);
    await gateway.app.stepgate.reload(parseConfig(document(['b', 'a']), {}));
    assert.deepEqual(await kids(gateway), ['b', 'a']);

    // The secret behind "a" is replaced by something unusable: the reload is refused, nothing changes.
    const config = parseConfig(document(['b']), {});
    await writeFile(join(dir, 'b'), 'garbage');
    await assert.rejects(gateway.app.stepgate.reload(config), /assertion\.keys\[0\]\.file: is neither a PEM key nor a JWK/);
    assert.deepEqual(await kids(gateway), ['b', 'a']);
  });

  test('the decision listener signs with the reloaded keys too, not the ones it started with', async () => {
    await writeFile(join(dir, 'c'), pem());
    await writeFile(join(dir, 'd'), pem());
    const issuer = await startIssuer();
    after(() => issuer.close());
    const withDecision = (files: string[]) => ({
      ...document(files),
      issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
      decision: { host: '127.0.0.1', port: 0, trustedPeers: ['127.0.0.1'], nginx: { path: '/nginx' } },
      routes: [{ name: 'r', path: '/r', target: 't', allow: { scopes: ['read'] } }],
    });
    const gateway = await startGateway(withDecision(['c']));
    after(() => gateway.close());
    await waitReady(gateway);
    // Rotation's last step: "d" signs and "c" is no longer published.
    await gateway.app.stepgate.reload(parseConfig(withDecision(['d']), {}));
    assert.deepEqual(await kids(gateway), ['d']);
    const answer = await rawRequest(gateway.decisionUrl!, {
      method: 'GET',
      path: '/nginx',
      headers: {
        'x-original-method': 'GET',
        'x-original-uri': '/r',
        authorization: `Bearer ${await issuer.sign({ sub: 'alice', scope: 'read' })}`,
      },
    });
    assert.equal(answer.status, 200);
    const assertion = String(answer.headers['x-stepgate-assertion']);
    assert.equal(decodeProtectedHeader(assertion).kid, 'd');
    const jwks = (await (await fetch(`${gateway.url}/.well-known/stepgate/jwks.json`)).json()) as JSONWebKeySet;
    await jwtVerify(assertion, createLocalJWKSet(jwks), { audience: 't' });
  });

  test('without assertion.keys a reload keeps the generated key', async () => {
    const gateway = await startGateway(document(undefined));
    after(() => gateway.close());
    const before = await kids(gateway);
    await gateway.app.stepgate.reload(parseConfig({ ...document(undefined), routes: [{ name: 'p', path: '/p', target: 't', public: true }] }, {}));
    assert.deepEqual(await kids(gateway), before);
  });
});
