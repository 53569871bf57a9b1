/**
 * Oversized bodies are a 413 before anything is forwarded, whether announced or chunked; bodies
 * and headers that never finish arriving are cut off by the request and headers time-outs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { rawRequest } from '../../support/raw-http.ts';

let issuer: TestIssuer;
let upstream: EchoUpstream;
let gateway: TestGateway;
let auth: string;

before(async () => {
  issuer = await startIssuer();
  upstream = await startEchoUpstream();
  gateway = await startGateway({
    ...coreConfig(issuer.issuer, issuer.jwksUri, upstream.url),
    server: { bodyLimitBytes: 1000, requestTimeoutMs: 1000, headersTimeoutMs: 1000 },
  });
  await waitReady(gateway);
  auth = `Authorization: Bearer ${await issuer.sign({ sub: 'a', scope: 'orders:write' })}`;
});

after(async () => {
  await gateway.close();
  await upstream.close();
  await issuer.close();
});

const host = () => `Host: ${new URL(gateway.url).host}`;

describe('a request body', () => {
  it('announced larger than the limit is a 413, never forwarded', async () => {
    const before = upstream.received.length;
    const body = 'x'.repeat(2000);
    const res = await rawRequest(
      gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_BODY_TOO_LARGE');
    assert.equal(upstream.received.length, before);
  });

  it('chunked past the limit is a 413, never forwarded', async () => {
    const before = upstream.received.length;
    const chunk = 'y'.repeat(600);
    const chunked = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
    const res = await rawRequest(
      gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`,
    );
    assert.equal(res.status, 413);
    assert.equal(upstream.received.length, before);
    const record = await gateway.auditFor(JSON.parse(res.body).requestId);
    assert.equal(record.status, 413);
  });

  it('within the limit is forwarded', async () => {
    const res = await rawRequest(
      gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).body, 'hello');
  });

  it('that never finishes arriving is cut off by the request time-out', async () => {
    const before = upstream.received.length;
    const res = await rawRequest(
      gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nContent-Length: 100\r\n\r\nonly-part`,
      5000,
    );
    assert.equal(res.status, 408);
    assert.equal(upstream.received.length, before);
  });
});

describe('request headers', () => {
  it('that never finish arriving (slowloris) are cut off by the headers time-out: 408, audited', async () => {
    const before = upstream.received.length;
    const started = Date.now();
    // The request line and a few headers, then silence: the blank line never comes.
    const res = await rawRequest(gateway.url, `GET /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nX-Slow: 1\r\n`, 15_000);
    assert.equal(res.status, 408, res.raw);
    assert.ok(Date.now() - started < 10_000, `cut off after ${Date.now() - started} ms`);
    const problem = JSON.parse(res.body) as { code: string; requestId: string };
    assert.equal(problem.code, 'SG_ERR_REQUEST_TIMEOUT');
    const record = await gateway.auditFor(problem.requestId);
    assert.deepEqual([record.decision, record.status, record.forwarded], ['deny', 408, false]);
    assert.equal(upstream.received.length, before);
  });
});
