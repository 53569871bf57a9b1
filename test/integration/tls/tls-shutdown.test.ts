/**
 * A graceful stop (`stepgate serve`'s SIGTERM path) with TLS: idle HTTP/1.1 keep-alive
 * connections and idle HTTP/2 sessions are closed at once (they would otherwise hold the stop for
 * the whole grace period), while a request in flight on HTTP/2 is answered before the end.
 */
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, it } from 'node:test';
import { Agent, request } from 'undici';
import { startGateway, type RunningGateway } from '../../../src/commands/serve.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { coreConfig } from '../../support/configs.ts';
import { Capture, eventually } from '../../support/gateway.ts';
import { listen, startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { createTestPki, type TestPki } from '../../support/tls.ts';

let pki: TestPki;
let issuer: TestIssuer;
let upstream: Awaited<ReturnType<typeof listen>>;
let gateway: RunningGateway;
let release: (() => void) | undefined;

function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  const answer = () => res.end(`hello ${req.url}`);
  if (req.url?.startsWith('/orders/slow')) release = answer;
  else answer();
}

before(async () => {
  pki = createTestPki();
  const pair = pki.issue('gateway');
  issuer = await startIssuer();
  upstream = await listen(upstreamHandler);
  const document = coreConfig(issuer.issuer, issuer.jwksUri, `http://127.0.0.1:${upstream.port}`);
  const config = parseConfig({
    ...document,
    server: { host: '127.0.0.1', port: 0, shutdownGraceMs: 20_000, tls: { certFile: pair.certFile, keyFile: pair.keyFile } },
    admin: { host: '127.0.0.1', port: 0 },
    audit: { sinks: [{ type: 'stdout' }] },
  }, {});
  gateway = await startGateway(config, { auditStdout: new Capture(), logStream: new Capture() });
});

after(async () => {
  await upstream.close();
  await issuer.close();
  pki.remove();
});

it('stops at once with idle HTTP/1.1 and HTTP/2 connections open, after answering the request in flight', async () => {
  const token = await issuer.sign({ sub: 'alice', scope: 'orders:read' });
  const authorization = `Bearer ${token}`;
  // An idle HTTP/1.1 keep-alive connection.
  const h1 = new Agent({ connect: { ca: pki.ca } });
  const first = await request(`${gateway.url}/api/orders/1`, { dispatcher: h1, headers: { authorization } });
  assert.equal(first.statusCode, 200);
  await first.body.dump();
  // An idle HTTP/2 session, and one with a request waiting on the upstream.
  const open = (): Promise<ClientHttp2Session> =>
    new Promise((resolve, reject) => {
      const session = h2connect(gateway.url, { ca: pki.ca }, () => resolve(session));
      session.on('error', reject);
    });
  const idle = await open();
  const busy = await open();
  const idleClosed = new Promise((resolve) => idle.on('close', resolve));
  const stream = busy.request({ ':method': 'GET', ':path': '/api/orders/slow', authorization });
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (body += chunk));
  const answered = new Promise((resolve) => stream.on('end', resolve));
  await eventually(() => release !== undefined, 'the upstream to hold the request');

  const started = Date.now();
  const stopped = gateway.stop();
  await idleClosed;
  release!();
  await answered;
  assert.equal(body, 'hello /orders/slow');
  await stopped;
  assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms, not after the 20 s grace`);
  busy.close();
  await h1.close();
});
