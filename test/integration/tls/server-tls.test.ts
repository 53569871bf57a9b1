/**
 * `server.tls`: the public listener serves HTTPS, and HTTP/2 to clients that offer it over ALPN,
 * with the same answers and the same audit as HTTP/1.1; the upstream still gets HTTP/1.1 with
 * `X-Forwarded-Proto: https`. The certificate is re-read when its files change (a new connection
 * sees the new serial, no restart), and a bad replacement keeps the one in use.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { connect as h2connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { coreConfig } from '../../support/configs.ts';
import { eventually, startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { listen, startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { createTestPki, type Issued, type TestPki } from '../../support/tls.ts';

let pki: TestPki;
let first: Issued;
let issuer: TestIssuer;
let upstream: Awaited<ReturnType<typeof listen>>;
let gateway: TestGateway;
let https: Agent;
let token: string;
/** What the upstream received, by path. */
const seen = new Map<string, { version: string; headers: IncomingHttpHeaders; body: string }>();
const cancelled = new Set<string>();

function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  const entry = { version: req.httpVersion, headers: req.headers, body: '' };
  seen.set(path, entry);
  res.on('close', () => {
    if (!res.writableFinished) cancelled.add(path);
  });
  if (path.startsWith('/orders/hold')) return; // answers never: the client gives up first
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (entry.body += chunk));
  req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello ${path}`));
}

const gatewayDocument = () => coreConfig(issuer.issuer, issuer.jwksUri, `http://127.0.0.1:${upstream.port}`);
const tlsServer = () => ({ tls: { certFile: first.certFile, keyFile: first.keyFile } });

/** Replaces `target` the way cert-manager and editors do: a new file renamed over the old. */
function replace(target: string, text: string): void {
  writeFileSync(`${target}.tmp`, text);
  renameSync(`${target}.tmp`, target);
}

before(async () => {
  pki = createTestPki();
  first = pki.issue('gateway');
  issuer = await startIssuer();
  upstream = await listen(upstreamHandler);
  gateway = await startGateway({ ...gatewayDocument(), server: tlsServer() });
  await waitReady(gateway);
  https = new Agent({ connect: { ca: pki.ca } });
  token = await issuer.sign({ sub: 'alice', scope: 'orders:read' });
});

after(async () => {
  await https.close();
  await gateway.close();
  await upstream.close();
  await issuer.close();
  pki.remove();
});

/** The serial of the certificate a new TLS connection to the gateway is shown. */
function servedSerial(): Promise<string> {
  const { port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), ca: pki.ca }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** An HTTP/2 session to the gateway, trusting the test CA. */
function h2session(url = gateway.url): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(url, { ca: pki.ca }, () => resolve(session));
    session.on('error', reject);
  });
}

/** One HTTP/2 request (GET unless `:method` says otherwise): status, headers and body. */
function h2send(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string) {
  const stream = session.request({ ':method': 'GET', ...headers }, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  return responseOf(stream);
}

/** The response on an HTTP/2 stream: status, headers and body. */
function responseOf(stream: ClientHttp2Stream) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    let text = '';
    let head: Record<string, unknown> = {};
    stream.setEncoding('utf8');
    stream.on('response', (h) => (head = h));
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: text }));
    stream.on('error', reject);
  });
}

describe('the public listener with server.tls', () => {
  it('serves HTTPS: an allowed request is forwarded, a denied one is 403, over HTTP/1.1', async () => {
    assert.match(gateway.url, /^https:\/\//);
    const ok = await request(`${gateway.url}/api/orders/1`, { dispatcher: https, headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.statusCode, 200);
    assert.equal(await ok.body.text(), 'hello /orders/1');
    assert.equal(seen.get('/orders/1')?.headers['x-forwarded-proto'], 'https');
    const denied = await request(`${gateway.url}/api/orders/2`, { method: 'POST', dispatcher: https, headers: { authorization: `Bearer ${token}` } });
    assert.equal(denied.statusCode, 403);
    assert.equal(((await denied.body.json()) as { code: string }).code, 'SG_ERR_INSUFFICIENT_SCOPE');
  });

  it('speaks HTTP/2 over ALPN with the same answers; the upstream gets HTTP/1.1 and the client’s authority', async () => {
    const session = await h2session();
    try {
      assert.equal(session.alpnProtocol, 'h2');
      const authority = new URL(gateway.url).host;
      const ok = await h2send(session, { ':path': '/api/orders/h2', authorization: `Bearer ${token}`, te: 'trailers' });
      assert.equal(ok.status, 200);
      assert.equal(ok.body, 'hello /orders/h2');
      assert.match(String(ok.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      const received = seen.get('/orders/h2')!;
      assert.equal(received.version, '1.1');
      assert.equal(received.headers['x-forwarded-proto'], 'https');
      assert.equal(received.headers['x-forwarded-host'], authority);
      assert.equal(received.headers.host, `127.0.0.1:${upstream.port}`);
      assert.equal(received.headers.te, undefined, 'TE is connection-specific');
      assert.deepEqual(Object.keys(received.headers).filter((n) => n.startsWith(':')), [], 'no pseudo-header upstream');
      const record = await gateway.auditFor(String(ok.headers['x-request-id']));
      assert.equal(record.reason, 'allowed');
      assert.equal(record.caller?.sub, 'alice');
      // Taken while the stream was open: an HTTP/2 request's socket is gone once it has closed.
      assert.equal(record.http.sourceIp, '127.0.0.1');
      assert.equal(received.headers['x-forwarded-for'], '127.0.0.1');

      const none = await h2send(session, { ':path': '/api/orders/h2-anon' });
      assert.equal(none.status, 401);
      assert.equal(JSON.parse(none.body).code, 'SG_ERR_MISSING_TOKEN');
      const denied = await h2send(session, { ':path': '/api/orders/h2', ':method': 'POST', authorization: `Bearer ${token}` });
      assert.equal(denied.status, 403);
      assert.equal(JSON.parse(denied.body).code, 'SG_ERR_INSUFFICIENT_SCOPE');
    } finally {
      session.close();
    }
  });

  it('forwards an HTTP/2 request body as received', async () => {
    const writer = await issuer.sign({ sub: 'bob', scope: 'orders:write' });
    const session = await h2session();
    try {
      const res = await h2send(session, { ':method': 'POST', ':path': '/api/orders/posted', authorization: `Bearer ${writer}`, 'content-type': 'application/json' }, '{"qty":3}');
      assert.equal(res.status, 200);
      assert.equal(seen.get('/orders/posted')?.body, '{"qty":3}');
      assert.equal(seen.get('/orders/posted')?.headers['content-length'], '9');
      // No Content-Type and no Content-Length: HTTP/2 says "body" by not ending the stream.
      const bare = await h2send(session, { ':method': 'PUT', ':path': '/api/orders/bare', authorization: `Bearer ${writer}` }, 'raw bytes');
      assert.equal(bare.status, 200);
      assert.equal(seen.get('/orders/bare')?.body, 'raw bytes');
      assert.equal(seen.get('/orders/bare')?.headers['transfer-encoding'], undefined);
    } finally {
      session.close();
    }
  });

  it('applies bodyLimitBytes (413) and maxHeaderBytes (431) to HTTP/2 requests, each with its record', async () => {
    const writer = await issuer.sign({ sub: 'bob', scope: 'orders:write' });
    const session = await h2session();
    try {
      const post = { ':method': 'POST', ':path': '/api/orders/too-big', authorization: `Bearer ${writer}` };
      const big = await h2send(session, post, 'x'.repeat(1_048_577));
      assert.equal(big.status, 413);
      assert.equal(JSON.parse(big.body).code, 'SG_ERR_BODY_TOO_LARGE');
      assert.equal((await gateway.auditFor(String(big.headers['x-request-id']))).status, 413);
      const get = { ':path': '/api/orders/big-header', authorization: `Bearer ${token}`, 'x-filler': 'y'.repeat(20_000) };
      const tall = await h2send(session, get);
      assert.equal(tall.status, 431);
      assert.equal(JSON.parse(tall.body).code, 'SG_ERR_HEADERS_TOO_LARGE');
      assert.equal((await gateway.auditFor(String(tall.headers['x-request-id']))).status, 431);
      assert.equal(seen.has('/orders/too-big') || seen.has('/orders/big-header'), false);
    } finally {
      session.close();
    }
  });

  it('refuses HTTP/2 CONNECT on its stream with 400 and a record, opening no tunnel', async () => {
    const session = await h2session();
    try {
      const res = await h2send(session, { ':method': 'CONNECT', ':authority': 'internal.example:443' });
      assert.equal(res.status, 400);
      assert.equal(JSON.parse(res.body).code, 'SG_ERR_BAD_REQUEST');
      const record = await gateway.auditFor(String(res.headers['x-request-id']));
      assert.equal(record.decision, 'deny');
      assert.equal(record.status, 400);
    } finally {
      session.close();
    }
  });

  it('answers an HTTP/2 body that does not arrive within requestTimeoutMs with 408, nothing forwarded', async () => {
    const slow = await startGateway({ ...gatewayDocument(), server: { ...tlsServer(), requestTimeoutMs: 300 } });
    const session = await h2session(slow.url);
    try {
      const writer = await issuer.sign({ sub: 'bob', scope: 'orders:write' });
      const stream = session.request({ ':method': 'POST', ':path': '/api/orders/slow-body', authorization: `Bearer ${writer}` });
      stream.write('{"qty":'); // and never the rest
      const res = await responseOf(stream);
      assert.equal(res.status, 408);
      assert.equal(JSON.parse(res.body).code, 'SG_ERR_REQUEST_TIMEOUT');
      assert.equal((await slow.auditFor(String(res.headers['x-request-id']))).status, 408);
      assert.equal(seen.has('/orders/slow-body'), false);
    } finally {
      session.close();
      await slow.close();
    }
  });

  it('refuses an HTTP/2 request whose Host names another authority than :authority (400)', async () => {
    const session = await h2session();
    try {
      const headers = { ':path': '/api/orders/smuggle', ':authority': new URL(gateway.url).host, host: 'internal.example' };
      const res = await h2send(session, { ...headers, authorization: `Bearer ${token}` });
      assert.equal(res.status, 400);
      assert.equal(JSON.parse(res.body).code, 'SG_ERR_BAD_HEADER');
      assert.equal(seen.has('/orders/smuggle'), false);
    } finally {
      session.close();
    }
  });

  it('an HTTP/2 stream reset while the upstream works is recorded once as client_aborted and cancels the call', async () => {
    const session = await h2session();
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/api/orders/hold-h2', authorization: `Bearer ${token}` });
      stream.on('error', () => undefined);
      await eventually(() => seen.has('/orders/hold-h2'), 'the upstream to receive the request');
      stream.close(h2.NGHTTP2_CANCEL);
      await eventually(async () => (await gateway.auditRecords()).some((r) => r.http.path === '/api/orders/hold-h2'), 'its record');
      await eventually(() => cancelled.has('/orders/hold-h2'), 'the upstream call to be cancelled');
      const records = (await gateway.auditRecords()).filter((r) => r.http.path === '/api/orders/hold-h2');
      assert.equal(records.length, 1);
      assert.equal(records[0]!.reason, 'client_aborted');
      assert.equal(records[0]!.status, 499);
      assert.equal(records[0]!.forwarded, true);
    } finally {
      session.close();
    }
  });

  it('keeps its certificate when the replacement does not load, and serves a renewed one without a restart', async () => {
    assert.equal(await servedSerial(), first.serial);
    const strayPki = createTestPki('another CA');
    const other = strayPki.issue('stray');
    try {
      // A key that belongs to another certificate: logged, the pair in use kept.
      replace(first.keyFile, other.key);
      await eventually(() => gateway.logs.text().includes('TLS certificate reload refused'), 'the refusal to be logged');
      assert.match(gateway.logs.text(), /server\.tls\.keyFile.*is not the key of the certificate/);
      assert.equal(await servedSerial(), first.serial);
      const still = await request(`${gateway.url}/api/orders/3`, { dispatcher: https, headers: { authorization: `Bearer ${token}` } });
      assert.equal(still.statusCode, 200);
      await still.body.dump();
    } finally {
      strayPki.remove();
    }
    // The renewal: a new certificate and key from the same CA, each renamed into place.
    const renewed = pki.issue('renewed');
    replace(first.certFile, renewed.cert);
    replace(first.keyFile, renewed.key);
    await eventually(async () => (await servedSerial()) === renewed.serial, 'the renewed certificate to be served');
    const session = await h2session();
    try {
      const ok = await h2send(session, { ':path': '/api/orders/renewed', authorization: `Bearer ${token}` });
      assert.equal(ok.status, 200, 'HTTP/2 is still negotiated after the swap');
    } finally {
      session.close();
    }
  });
});
