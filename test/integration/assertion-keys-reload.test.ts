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
import { parseConfig } from '../../src/config/load.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

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

  test('without assertion.keys a reload keeps the generated key', async () => {
    const gateway = await startGateway(document(undefined));
    after(() => gateway.close());
    const before = await kids(gateway);
    await gateway.app.stepgate.reload(parseConfig({ ...document(undefined), routes: [{ name: 'p', path: '/p', target: 't', public: true }] }, {}));
    assert.deepEqual(await kids(gateway), before);
  });
});
