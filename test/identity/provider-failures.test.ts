/**
 * Every way an identity provider can fail, as the gateway names it (provider-fetch.ts), and the
 * monitor that logs it per issuer without flooding (provider-monitor.ts). TLS against a real
 * https server with a certificate from a private CA: refused without `caFile`, with a hint to
 * set it; trusted with it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createIssuerKeys } from '../../src/identity/issuer-keys.ts';
import { ProviderError, toProviderError } from '../../src/identity/provider-fetch.ts';
import { createProviderMonitor } from '../../src/identity/provider-monitor.ts';
import { startGateway, waitReady } from '../support/gateway.ts';
import { createSigningKey, issuerConfig, signToken } from '../support/issuer.ts';
import { freePort } from '../support/sso.ts';

const fetchFailed = (code: string, message = code) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });

describe('a provider failure is named by its kind', () => {
  const url = 'https://sso.example.com/realms/platform/.well-known/openid-configuration';
  for (const [what, error, kind, text] of [
    ['an unknown host', fetchFailed('ENOTFOUND', 'getaddrinfo ENOTFOUND sso.example.com'), 'dns', /cannot resolve host "sso.example.com"/],
    ['a refused connection', fetchFailed('ECONNREFUSED'), 'refused', /connection refused by sso.example.com/],
    ['a time-out', new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'timeout', /did not answer in time/],
    ['a self-signed certificate', fetchFailed('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), 'tls', /TLS with sso.example.com failed: self-signed.*caFile/],
    ['a wrong host name', fetchFailed('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), 'tls', /does not match/],
  ] as const) {
    it(`${what}: ${kind}`, () => {
      const failure = toProviderError(error, url);
      assert.equal(failure.kind, kind);
      assert.equal(failure.url, url);
      assert.match(failure.message, text);
    });
  }

  it('a refused port, an HTTP status and a body that is not JSON, over real sockets', async () => {
    const closed = await freePort();
    const issuerAt = (issuer: string) => createIssuerKeys(issuerConfig({ issuer }), { fetchTimeoutMs: 2000 });
    const refused = issuerAt(`http://127.0.0.1:${closed}`);
    await refused.warm();
    assert.equal(refused.lastError()?.kind, 'refused');

    const { createServer: createHttpServer } = await import('node:http');
    const server = createHttpServer((req, res) => {
      if (req.url?.startsWith('/status')) res.writeHead(502).end('bad gateway');
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const status = issuerAt(`${base}/status`);
      await status.warm();
      assert.equal(status.lastError()?.kind, 'http_status');
      assert.match(status.lastError()!.message, /answered HTTP 502/);
      const html = issuerAt(`${base}/html`);
      await html.warm();
      assert.equal(html.lastError()?.kind, 'bad_json');
      assert.match(html.lastError()!.message, /text\/html that is not JSON/);
      for (const keys of [refused, status, html]) keys.close();
    } finally {
      server.close();
    }
  });
});

describe('the provider monitor', () => {
  it('logs an outage once, again when its cause changes or a minute passed, and the recovery once', () => {
    let now = 0;
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const monitor = createProviderMonitor({
      now: () => now,
      log: () => ({
        error: (fields, message) => lines.push({ level: 'error', fields: fields as Record<string, unknown>, message }),
        info: (fields, message) => lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }),
      }),
    });
    const refused = new ProviderError('refused', 'https://idp/jwks', 'connection refused by idp');
    monitor.failed('kc', refused);
    now += 1000;
    monitor.failed('kc', refused);
    now += 1000;
    monitor.failed('kc', refused);
    assert.equal(lines.length, 1, 'repeats within a minute are counted, not logged');
    assert.deepEqual(lines[0]!.fields, { issuer: 'kc', url: 'https://idp/jwks', cause: 'refused', detail: 'connection refused by idp' });
    monitor.failed('kc', new ProviderError('http_status', 'https://idp/jwks', 'answered HTTP 503'));
    assert.equal(lines.length, 2, 'a new cause is logged at once');
    now += 61_000;
    monitor.failed('kc', new ProviderError('http_status', 'https://idp/jwks', 'answered HTTP 503'));
    assert.match(lines[2]!.message, /still failing \(5 failures\)/);
    monitor.succeeded('kc');
    monitor.succeeded('kc');
    assert.equal(lines.length, 4);
    assert.equal(lines[3]!.level, 'info');
    assert.match(lines[3]!.message, /recovered after 5 failures in 63 s/);
  });
});

describe('an issuer behind a private CA (caFile)', () => {
  it('is refused as TLS without caFile, and trusted with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-ca-'));
    const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=Test CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem')]);
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'req.csr')]);
    const ext = join(dir, 'ext.cnf');
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > ${ext}`]);
    run(['x509', '-req', '-in', join(dir, 'req.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', join(dir, 'cert.pem')]);

    const key = await createSigningKey('RS256');
    let base = '';
    const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks` }));
      else res.end(JSON.stringify({ keys: [key.publicJwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const document = (caFile?: string) => ({
      issuers: [{ name: 'private', issuer: base, audiences: ['stepgate'], ...(caFile ? { caFile } : {}) }],
      targets: { app: { type: 'http', url: 'http://127.0.0.1:1' } },
      routes: [{ name: 'app', path: '/*', target: 'app', allow: { scopes: ['never-granted'] } }],
    });
    const without = await startGateway(document());
    const withCa = await startGateway(document(join(dir, 'ca.pem')));
    try {
      let status: { issuers: Record<string, { error?: { cause: string; detail: string } }> } | undefined;
      for (let i = 0; i < 100 && !status?.issuers['private']?.error; i++) {
        status = (await (await fetch(`${without.adminUrl}/readyz`)).json()) as typeof status;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(status!.issuers['private']!.error!.cause, 'tls');
      assert.match(status!.issuers['private']!.error!.detail, /issuers\[\]\.caFile/);

      await waitReady(withCa);
      const token = await signToken(key, base);
      const res = await fetch(`${withCa.url}/x`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 403, 'verified with keys fetched over the private CA');
    } finally {
      await Promise.all([without.close(), withCa.close()]);
      server.close();
    }
  });
});
