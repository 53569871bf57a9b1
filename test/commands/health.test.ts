/**
 * `stepgate health [--url URL] [--config FILE]`: exit 0 when the admin /readyz answers 200, 1
 * when it answers otherwise or not at all, with a line saying which; the default URL is the
 * config's admin listener, a wildcard address asked on loopback.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../support/sso.ts';
import { startGateway, type TestGateway, waitReady } from '../support/gateway.ts';
import { stepgate, tempDir } from '../support/run-cli.ts';

const PUBLIC_ONLY = {
  targets: { t: { type: 'http', url: 'http://127.0.0.1:9' } },
  routes: [{ name: 's', path: '/s', target: 't', public: true }],
};

let ready: TestGateway;
let unready: TestGateway;
before(async () => {
  ready = await startGateway(PUBLIC_ONLY);
  await waitReady(ready);
  // Its issuer's keys can never be fetched: /readyz stays 503.
  const closed = await freePort();
  unready = await startGateway({
    ...PUBLIC_ONLY,
    issuers: [{ name: 'gone', issuer: `http://127.0.0.1:${closed}/realm`, audiences: ['a'], jwksUri: `http://127.0.0.1:${closed}/jwks` }],
  });
});
after(() => Promise.all([ready.close(), unready.close()]));

describe('stepgate health', () => {
  test('a ready gateway → exit 0 (--url with the admin origin: /readyz is added)', async () => {
    const result = await stepgate(['health', '--url', ready.adminUrl]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${ready.adminUrl}/readyz: ready\n`);
  });

  test('not ready → exit 1 naming the failed check', async () => {
    const result = await stepgate(['health', '--url', `${unready.adminUrl}/readyz`]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `${unready.adminUrl}/readyz: not ready (HTTP 503: issuerKeys)\n`);
    assert.equal(result.stdout, '');
  });

  test('nothing listening → exit 1, not reachable', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await stepgate(['health', '--url', url]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `${url}/readyz: not reachable (ECONNREFUSED)\n`);
  });

  test('without --url: the config admin listener; 0.0.0.0 is asked on 127.0.0.1', async () => {
    const port = new URL(ready.adminUrl).port;
    const file = join(await tempDir(), 'gateway.yaml');
    await writeFile(file, `admin: { host: 0.0.0.0, port: ${port} }\ntargets: {}\nroutes: []\n`);
    const result = await stepgate(['health'], { STEPGATE_CONFIG: file });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `http://127.0.0.1:${port}/readyz: ready\n`);
  });

  test('a bad --url or an invalid config → exit 2', async () => {
    const bad = await stepgate(['health', '--url', 'ftp://x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--url must be an http\(s\) URL/);
    const file = join(await tempDir(), 'bad.yaml');
    await writeFile(file, 'admin: { prot: 1 }\ntargets: {}\nroutes: []\n');
    const invalid = await stepgate(['health', '--config', file]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /admin\.prot: unknown key/);
  });
});
