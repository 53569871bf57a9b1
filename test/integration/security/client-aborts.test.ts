/**
 * Every request that reached the gateway leaves exactly one audit record and one count in
 * `stepgate_requests_total`, however it ends — also when the client resets the connection
 * while the gateway authenticates it, reads its body, waits on the upstream or streams the
 * answer. A client gone before forwarding gets nothing forwarded; one gone while the upstream
 * works cancels the upstream call. Clients are raw sockets that end with a TCP RST.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import type { AuditRecord } from '../../../src/audit/record.ts';
import { coreConfig } from '../../support/configs.ts';
import { eventually, startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { listen } from '../../support/issuer.ts';
import { openRaw, type RawConnection } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

/** Upstream paths in the order they arrived, and those whose call was cancelled mid-way. */
const arrived: string[] = [];
const cancelled = new Set<string>();

function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  arrived.push(path);
  res.on('close', () => {
    if (!res.writableFinished) cancelled.add(path);
  });
  if (path.startsWith('/orders/hold')) return; // never answers: the client gives up first
  if (path.startsWith('/orders/stream')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first-chunk\n'); // and never the rest
    return;
  }
  req.resume().on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('done'));
}

let token: string;
const stack = withGateway({
  upstream: upstreamHandler,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
  setup: async () => {
    token = await stack.issuer.sign({ sub: 'alice', scope: 'orders:read orders:write' });
  },
});

const request = (gw: TestGateway, lines: string[], body = '') =>
  [...lines, `Host: ${new URL(gw.url).host}`, '', body].join('\r\n');

/** The records of the requests to `path` once one is there, after the gateway settled. */
async function recordsOf(gw: TestGateway, path: string): Promise<AuditRecord[]> {
  await eventually(async () => (await gw.auditRecords()).some((r) => r.http.path === path), `a record for ${path}`);
  // Let anything the aborted request still had in flight run out before counting.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return (await gw.auditRecords()).filter((r) => r.http.path === path);
}

/** The gateway has received the request (Fastify's handler runs before this listener). */
function nextRequest(gw: TestGateway): Promise<void> {
  return new Promise((resolve) => gw.app.server.once('request', () => resolve()));
}

async function send(gw: TestGateway, text: string): Promise<RawConnection> {
  const conn = await openRaw(gw.url);
  conn.socket.write(text);
  return conn;
}

describe('a client that resets the connection', () => {
  it('before the upstream answers: forwarded, the upstream call cancelled, recorded once as client_aborted', async () => {
    const counted = await stack.gateway.requestsCounted({ reason: 'client_aborted', status: '499' });
    const conn = await send(stack.gateway, request(stack.gateway, ['GET /api/orders/hold-1 HTTP/1.1', `Authorization: Bearer ${token}`]));
    await eventually(() => arrived.includes('/orders/hold-1'), 'the upstream to receive the request');
    conn.reset();
    const [record, ...more] = await recordsOf(stack.gateway, '/api/orders/hold-1');
    assert.equal(more.length, 0, 'exactly one record');
    assert.equal(record!.reason, 'client_aborted');
    assert.equal(record!.decision, 'allow');
    assert.equal(record!.forwarded, true);
    assert.equal(record!.status, 499);
    assert.equal(record!.caller?.sub, 'alice');
    await eventually(() => cancelled.has('/orders/hold-1'), 'the upstream call to be cancelled');
    assert.equal(await stack.gateway.requestsCounted({ reason: 'client_aborted', status: '499' }), counted + 1);
    assert.equal(stack.gateway.logs.text().includes('request failed'), false, 'a client leaving is not an error');
  });

  it('mid response: recorded once with the status it was being sent', async () => {
    const conn = await send(stack.gateway, request(stack.gateway, ['GET /api/orders/stream-1 HTTP/1.1', `Authorization: Bearer ${token}`]));
    await conn.until((text) => text.includes('first-chunk'));
    conn.reset();
    const records = await recordsOf(stack.gateway, '/api/orders/stream-1');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.reason, 'client_aborted');
    assert.equal(records[0]!.status, 200);
    assert.equal(records[0]!.forwarded, true);
    await eventually(() => cancelled.has('/orders/stream-1'), 'the upstream response to be abandoned');
  });

  it('after the response: recorded once, as answered', async () => {
    const conn = await send(stack.gateway, request(stack.gateway, ['GET /api/orders/fast-1 HTTP/1.1', `Authorization: Bearer ${token}`]));
    await conn.until((text) => text.endsWith('done\r\n0\r\n\r\n'));
    conn.reset();
    const records = await recordsOf(stack.gateway, '/api/orders/fast-1');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.reason, 'allowed');
    assert.equal(records[0]!.status, 200);
    assert.equal(records[0]!.forwarded, true);
  });

  it('mid request body: nothing forwarded, recorded once', async () => {
    const received = nextRequest(stack.gateway);
    const conn = await send(
      stack.gateway,
      request(
        stack.gateway,
        ['POST /api/orders/body-1 HTTP/1.1', `Authorization: Bearer ${token}`, 'Content-Length: 1000'],
        'only ten b',
      ),
    );
    await received;
    conn.reset();
    const records = await recordsOf(stack.gateway, '/api/orders/body-1');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.reason, 'client_aborted');
    assert.equal(records[0]!.forwarded, false);
    assert.equal(records[0]!.status, 499);
    assert.equal(arrived.includes('/orders/body-1'), false);
  });

  it('right after a request that is denied: every one recorded and counted', async () => {
    const denied = await stack.gateway.requestsCounted({ decision: 'deny' });
    const tokens = ['', 'Bearer not.a.token', `Bearer ${await stack.issuer.sign({ sub: 'eve', scope: 'other' })}`];
    const paths: string[] = [];
    for (let i = 0; i < 15; i++) {
      const path = `/api/orders/probe-${i}`;
      paths.push(path);
      const auth = tokens[i % tokens.length] ? [`Authorization: ${tokens[i % tokens.length]}`] : [];
      (await send(stack.gateway, request(stack.gateway, [`GET ${path} HTTP/1.1`, ...auth]))).reset();
    }
    await eventually(async () => {
      const records = await stack.gateway.auditRecords();
      return paths.every((path) => records.filter((r) => r.http.path === path).length === 1);
    }, 'one record per probe');
    const records = (await stack.gateway.auditRecords()).filter((r) => paths.includes(r.http.path));
    assert.equal(records.length, paths.length, 'no probe recorded twice');
    assert.ok(records.every((r) => r.decision === 'deny' && r.forwarded === false));
    assert.equal(await stack.gateway.requestsCounted({ decision: 'deny' }), denied + paths.length);
    assert.equal(arrived.some((path) => path.startsWith('/orders/probe-')), false);
  });
});

describe('a CONNECT whose client resets at once', () => {
  it('cannot crash the gateway with an unhandled socket error', async () => {
    for (let i = 0; i < 20; i++) (await send(stack.gateway, 'CONNECT internal.example:443 HTTP/1.1\r\nHost: x\r\n\r\n')).reset();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const conn = await send(stack.gateway, request(stack.gateway, ['GET /api/orders/after-connect HTTP/1.1', `Authorization: Bearer ${token}`]));
    await conn.until((text) => text.endsWith('done\r\n0\r\n\r\n'));
    conn.reset();
  });
});

describe('a body Node’s parser refuses mid-request', () => {
  it('is answered 400 and recorded once, under the request’s own id', async () => {
    const all = await stack.gateway.requestsCounted();
    const before = (await stack.gateway.auditRecords()).length;
    const conn = await send(
      stack.gateway,
      request(
        stack.gateway,
        ['POST /api/orders/chunks-1 HTTP/1.1', `Authorization: Bearer ${token}`, 'Transfer-Encoding: chunked'],
        '5\r\nhello\r\nzz\r\n',
      ),
    );
    const text = await conn.until((t) => t.includes('}'));
    assert.match(text, /^HTTP\/1\.1 400 /);
    const problem = JSON.parse(text.slice(text.indexOf('{'))) as { code: string; requestId: string };
    assert.equal(problem.code, 'SG_ERR_BAD_REQUEST');
    const records = await recordsOf(stack.gateway, '/api/orders/chunks-1');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.requestId, problem.requestId);
    assert.equal(records[0]!.reason, 'bad_request');
    assert.equal(records[0]!.status, 400);
    assert.equal((await stack.gateway.auditRecords()).length, before + 1, 'no second record for the parser error');
    assert.equal(await stack.gateway.requestsCounted(), all + 1);
    assert.equal(arrived.includes('/orders/chunks-1'), false);
  });
});

describe('a client gone while the gateway fetches the issuer’s keys', () => {
  it('gets nothing forwarded once the keys arrive, and one record', async () => {
    let release!: () => void;
    const keysReleased = new Promise<void>((resolve) => (release = resolve));
    // The issuer's JWKS, held back until the test releases it.
    const slowJwks = await listen((req, res) => {
      void keysReleased.then(async () => {
        const keys = await fetch(stack.issuer.jwksUri);
        res.writeHead(200, { 'content-type': 'application/json' }).end(await keys.text());
      });
      req.resume();
    });
    const config = coreConfig(stack.issuer.issuer, `http://127.0.0.1:${slowJwks.port}/jwks`, stack.upstreamUrl);
    const slow = await startGateway(config);
    try {
      const received = nextRequest(slow);
      const conn = await send(slow, request(slow, ['GET /api/orders/auth-1 HTTP/1.1', `Authorization: Bearer ${token}`]));
      await received;
      conn.reset();
      const [record, ...more] = await recordsOf(slow, '/api/orders/auth-1');
      assert.equal(more.length, 0);
      assert.equal(record!.reason, 'client_aborted');
      assert.equal(record!.decision, 'deny', 'nothing was decided');
      assert.equal(record!.forwarded, false);
      assert.equal(record!.caller, undefined, 'the gateway was still authenticating');
      release();
      await waitReady(slow);
      // The same token now goes through: authentication of the aborted request has finished too.
      const next = await send(slow, request(slow, ['GET /api/orders/auth-2 HTTP/1.1', `Authorization: Bearer ${token}`]));
      await next.until((text) => text.endsWith('done\r\n0\r\n\r\n'));
      next.reset();
      assert.equal(arrived.includes('/orders/auth-1'), false, 'never forwarded');
      assert.equal((await recordsOf(slow, '/api/orders/auth-1')).length, 1);
      assert.equal(await slow.requestsCounted({ reason: 'client_aborted' }), 1);
    } finally {
      release();
      await slow.close();
      await slowJwks.close();
    }
  });
});
