/**
 * Upstream certificates are verified. reply-from (under @fastify/http-proxy) turns verification
 * off by default; this guards that the gateway turns it back on.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

let issuer: TestIssuer;
let upstream: Server;
let gateway: TestGateway;
let received = 0;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  upstream = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
    received++;
    res.end('secret');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  issuer = await startIssuer();
  gateway = await startGateway({
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
    targets: { api: { type: 'http', url: `https://127.0.0.1:${(upstream.address() as AddressInfo).port}` } },
    routes: [{ name: 'api', path: '/api/*', target: 'api', allow: { scopes: ['x'] } }],
  });
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
  await issuer.close();
});

describe('an https upstream', () => {
  it('with a certificate no CA vouches for is refused with 502, nothing sent', async () => {
    const token = await issuer.sign({ sub: 'svc', scope: 'x' });
    const res = await fetch(`${gateway.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { code: string }).code, 'SG_ERR_UPSTREAM_UNAVAILABLE');
    assert.equal(received, 0);
  });
});
