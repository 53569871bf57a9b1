/**
 * Per-target upstream TLS: an HTTP target trusts a private CA with `caFile`, and shows a client
 * certificate (`certFile`/`keyFile`) to an upstream that requires one, as a service mesh's
 * mutual TLS does. Without them the upstream is unreachable: 502 with the catalog code, nothing
 * reaches it. A reload that adds the client certificate takes effect for the next request.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { parseConfig } from '../../../src/config/load.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { createTestPki, type Issued, type TestPki } from '../../support/tls.ts';

let pki: TestPki;
let client: Issued;
let issuer: TestIssuer;
let upstream: Server;
let gateway: TestGateway;
let token: string;
/** The client certificate's subject CN each upstream request came with, by path. */
const received = new Map<string, string>();

/** Targets on the one mTLS upstream, differing only in their TLS options. */
function document(targets: Record<string, Record<string, string>>): Record<string, unknown> {
  const url = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  return {
    // As startGateway fills them in: a reload may not change them.
    server: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    audit: { sinks: [{ type: 'stdout' }] },
    logging: { level: 'info' },
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
    targets: Object.fromEntries(Object.entries(targets).map(([name, tls]) => [name, { type: 'http', url, ...tls }])),
    routes: Object.keys(targets).map((name) => ({
      name, path: `/${name}/*`, target: name, websocket: true, allow: { scopes: ['x'] },
    })),
  };
}

let files: { caFile: string; certFile: string; keyFile: string };

before(async () => {
  pki = createTestPki();
  const server = pki.issue('upstream');
  client = pki.issue('stepgate-client', { client: true });
  files = { caFile: pki.caFile, certFile: client.certFile, keyFile: client.keyFile };
  // Requires a client certificate signed by the test CA, as a mesh sidecar does.
  const options = { cert: server.cert, key: server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true };
  upstream = createServer(options, (req, res) => {
    received.set(req.url ?? '', (req.socket as TLSSocket).getPeerCertificate().subject.CN as string);
    res.end('through');
  });
  // WebSockets over the same mutual TLS: the upstream greets with the client certificate's CN.
  const wss = new WebSocketServer({ noServer: true });
  upstream.on('upgrade', (req, socket, head) => {
    received.set(req.url ?? '', (socket as TLSSocket).getPeerCertificate().subject.CN as string);
    wss.handleUpgrade(req, socket, head, (ws) => ws.send('through'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  issuer = await startIssuer();
  gateway = await startGateway(document({
    mtls: files,
    nocert: { caFile: files.caFile },
    noca: { certFile: files.certFile, keyFile: files.keyFile },
  }));
  await waitReady(gateway);
  token = await issuer.sign({ sub: 'svc', scope: 'x' });
});

after(async () => {
  await gateway.close();
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
  await issuer.close();
  pki.remove();
});

async function get(path: string): Promise<{ status: number; code?: string; body: string }> {
  const res = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  const code = res.status >= 400 ? (JSON.parse(body) as { code: string }).code : undefined;
  return { status: res.status, body, ...(code ? { code } : {}) };
}

/** Opens a WebSocket through the gateway: the upstream's first message, or the refusal's status. */
function openSocket(path: string): Promise<{ greeting?: string; status?: number }> {
  const socket = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return new Promise((resolve, reject) => {
    socket.once('message', (data) => {
      socket.close();
      resolve({ greeting: String(data) });
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

describe('an https upstream that requires mutual TLS', () => {
  it('is reached with the target’s caFile and client certificate; the upstream sees that certificate', async () => {
    const res = await get('/mtls/a');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'through');
    assert.equal(received.get('/mtls/a'), 'stepgate-client');
  });

  it('without a client certificate: 502 SG_ERR_UPSTREAM_UNAVAILABLE, nothing reaches it', async () => {
    const res = await get('/nocert/a');
    assert.equal(res.status, 502);
    assert.equal(res.code, 'SG_ERR_UPSTREAM_UNAVAILABLE');
    assert.equal(received.has('/nocert/a'), false);
    const [record] = (await gateway.auditRecords()).filter((r) => r.http.path === '/nocert/a');
    assert.equal(record?.reason, 'upstream_error');
  });

  it('without the caFile that vouches for its certificate: 502 SG_ERR_UPSTREAM_UNAVAILABLE', async () => {
    const res = await get('/noca/a');
    assert.equal(res.status, 502);
    assert.equal(res.code, 'SG_ERR_UPSTREAM_UNAVAILABLE');
    assert.equal(received.has('/noca/a'), false);
  });

  it('carries WebSockets to a wss upstream with the target’s caFile and client certificate', async () => {
    const opened = await openSocket('/mtls/ws');
    assert.deepEqual(opened, { greeting: 'through' });
    assert.equal(received.get('/mtls/ws'), 'stepgate-client');
    // Without the client certificate the upstream refuses the TLS handshake: a 502, no socket.
    assert.deepEqual(await openSocket('/nocert/ws'), { status: 502 });
    assert.equal(received.has('/nocert/ws'), false);
  });

  it('a reload that gives the target its client certificate takes effect for the next request', async () => {
    await gateway.app.stepgate.reload(parseConfig(document({ mtls: files, nocert: files, noca: files }), {}));
    const res = await get('/nocert/b');
    assert.equal(res.status, 200);
    assert.equal(received.get('/nocert/b'), 'stepgate-client');
    assert.equal((await get('/noca/b')).status, 200);
  });
});
