/**
 * Oversized bodies are a 413 before anything is forwarded, whether announced or chunked; bodies
 * and headers that never finish arriving are cut off by the request and headers time-outs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreConfig } from '../../support/configs.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

let auth: string;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => ({
    ...coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
    server: { bodyLimitBytes: 1000, requestTimeoutMs: 1000, headersTimeoutMs: 1000 },
  }),
  setup: async () => {
    auth = `Authorization: Bearer ${await stack.issuer.sign({ sub: 'a', scope: 'orders:write' })}`;
  },
});

const host = () => `Host: ${new URL(stack.gateway.url).host}`;

describe('a request body', () => {
  it('announced larger than the limit is a 413, never forwarded', async () => {
    const before = stack.upstream.received.length;
    const body = 'x'.repeat(2000);
    const res = await rawRequest(
      stack.gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_BODY_TOO_LARGE');
    assert.equal(stack.upstream.received.length, before);
  });

  it('chunked past the limit is a 413, never forwarded', async () => {
    const before = stack.upstream.received.length;
    const chunk = 'y'.repeat(600);
    const chunked = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
    const res = await rawRequest(
      stack.gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`,
    );
    assert.equal(res.status, 413);
    assert.equal(stack.upstream.received.length, before);
    const record = await stack.gateway.auditFor(JSON.parse(res.body).requestId);
    assert.equal(record.status, 413);
  });

  it('within the limit is forwarded', async () => {
    const res = await rawRequest(
      stack.gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).body, 'hello');
  });

  it('that never finishes arriving is cut off by the request time-out', async () => {
    const before = stack.upstream.received.length;
    const res = await rawRequest(
      stack.gateway.url,
      `POST /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nContent-Length: 100\r\n\r\nonly-part`,
      5000,
    );
    assert.equal(res.status, 408);
    assert.equal(stack.upstream.received.length, before);
  });
});

describe('request headers', () => {
  it('that never finish arriving (slowloris) are cut off by the headers time-out: 408, audited', async () => {
    const before = stack.upstream.received.length;
    const started = Date.now();
    // The request line and a few headers, then silence: the blank line never comes.
    const res = await rawRequest(stack.gateway.url, `GET /api/orders/1 HTTP/1.1\r\n${host()}\r\n${auth}\r\nX-Slow: 1\r\n`, 15_000);
    assert.equal(res.status, 408, res.raw);
    assert.ok(Date.now() - started < 10_000, `cut off after ${Date.now() - started} ms`);
    const problem = JSON.parse(res.body) as { code: string; requestId: string };
    assert.equal(problem.code, 'SG_ERR_REQUEST_TIMEOUT');
    const record = await stack.gateway.auditFor(problem.requestId);
    assert.deepEqual([record.decision, record.status, record.forwarded], ['deny', 408, false]);
    assert.equal(stack.upstream.received.length, before);
  });
});
