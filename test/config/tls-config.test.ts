/**
 * `stepgate check` (and every load and reload) refuses TLS files that would fail at the first
 * handshake — missing, not PEM, a key that is not the certificate's — naming the key that holds
 * the file, and options that cannot apply (a client certificate for a plain-http upstream).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { stepgate } from '../support/run-cli.ts';
import { configProblems } from '../support/configs.ts';
import { createTestPki, type Issued, type TestPki } from '../support/tls.ts';

let pki: TestPki;
let server: Issued;
let other: Issued;

before(() => {
  pki = createTestPki();
  server = pki.issue('server');
  other = pki.issue('other');
});
after(() => pki.remove());

function config(extra: { tls?: object; target?: object }): Record<string, unknown> {
  return {
    server: extra.tls ? { tls: extra.tls } : {},
    targets: { api: { type: 'http', url: 'https://api.internal', ...extra.target } },
    routes: [{ name: 'api', path: '/api/*', target: 'api', public: true }],
  };
}

describe('TLS files in the config', () => {
  it('a matching pair and a CA bundle are valid', () => {
    const tls = { certFile: server.certFile, keyFile: server.keyFile };
    assert.deepEqual(configProblems(config({ tls, target: { caFile: pki.caFile, ...tls } })), []);
  });

  it('a key that is not the certificate’s is named, for the listener and for a target', () => {
    const mismatched = { certFile: server.certFile, keyFile: other.keyFile };
    assert.deepEqual(configProblems(config({ tls: mismatched, target: mismatched })), [
      `server.tls.keyFile: is not the key of the certificate in ${server.certFile}`,
      `targets.api.keyFile: is not the key of the certificate in ${server.certFile}`,
    ]);
  });

  it('a missing file, a file with no certificate and one with no key are each named', () => {
    const missing = join(pki.dir, 'nope.pem');
    assert.deepEqual(configProblems(config({ tls: { certFile: missing, keyFile: server.keyFile } })), [
      'server.tls.certFile: cannot be read: ENOENT',
    ]);
    assert.deepEqual(configProblems(config({ target: { caFile: server.keyFile } })), [
      'targets.api.caFile: holds no PEM certificate',
    ]);
    assert.deepEqual(configProblems(config({ tls: { certFile: server.certFile, keyFile: server.certFile } })), [
      'server.tls.keyFile: holds no PEM private key (or it is encrypted)',
    ]);
  });

  it('a client certificate needs its key, and TLS options need an https url', () => {
    assert.deepEqual(configProblems(config({ target: { certFile: server.certFile } })), [
      'targets.api.keyFile: give certFile and keyFile together (mutual TLS)',
    ]);
    assert.deepEqual(configProblems(config({ target: { url: 'http://api.internal', caFile: pki.caFile } })), [
      'targets.api.caFile: is only for an https url',
    ]);
  });

  it('stepgate check exits 2 with the problem on one line', async () => {
    const file = join(pki.dir, 'gateway.yaml');
    writeFileSync(file, stringify(config({ tls: { certFile: server.certFile, keyFile: other.keyFile } })));
    const result = await stepgate(['check', '--config', file]);
    assert.equal(result.code, 2, result.stdout);
    assert.match(result.stderr, /server\.tls\.keyFile: is not the key of the certificate in .*server\.pem/);
  });
});
