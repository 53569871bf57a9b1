/**
 * WebSockets through the gateway (routes with `websocket: true`), over real sockets with a real
 * `ws` upstream and client: the upgrade goes through the same pipeline as any request
 * (authentication, policy, header hygiene, identity and assertion upstream), is audited with an
 * `open` and a `close` record, and is closed with 1008 when the caller's token expires.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import WebSocket from 'ws';
import type { AuditRecord } from '../../../src/audit/record.ts';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { configProblems, coreConfig } from '../../support/configs.ts';
import { eventually, startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { closeOf, GREETING, ManualClock, type Opened, openThrough, startWsUpstream, type WsUpstream } from './support.ts';

let issuer: TestIssuer;
let echo: EchoUpstream;
let upstream: WsUpstream;
let gateway: TestGateway;
const clock = new ManualClock();

/** coreConfig with a `chat` target (the WebSocket upstream) and two `websocket: true` routes. */
function chatConfig(): Record<string, unknown> {
  const config = coreConfig(issuer.issuer, issuer.jwksUri, echo.url);
  const targets = config['targets'] as Record<string, unknown>;
  const routes = config['routes'] as unknown[];
  return {
    ...config,
    targets: { ...targets, chat: { type: 'http', url: upstream.url, stripPrefix: '/api', timeoutMs: 2000 } },
    routes: [
      ...routes,
      { name: 'chat', path: '/api/chat/*', methods: ['GET'], target: 'chat', websocket: true, allow: { scopes: ['chat'] } },
      { name: 'refusing', path: '/api/refuse/*', methods: ['GET'], target: 'chat', websocket: true, allow: { scopes: ['chat'] } },
      { name: 'slow', path: '/api/slow/*', methods: ['GET'], target: 'chat', websocket: true, allow: { scopes: ['chat'] } },
      {
        name: 'limited',
        path: '/api/limited/*',
        methods: ['GET'],
        target: 'chat',
        websocket: true,
        allow: { scopes: ['chat'] },
        rateLimit: { perCaller: 1, windowSeconds: 3600 },
      },
    ],
  };
}

before(async () => {
  [issuer, echo, upstream] = await Promise.all([startIssuer(), startEchoUpstream(), startWsUpstream()]);
  gateway = await startGateway(
    { ...chatConfig(), server: { requestTimeoutMs: 1000, headersTimeoutMs: 1000, bodyLimitBytes: 1024 * 1024 } },
    { clock },
  );
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await Promise.all([upstream.close(), echo.close(), issuer.close()]);
});

/** A token valid for an hour by the gateway's clock, which the expiry test moves forward. */
const bearer = async (claims: Record<string, unknown> = {}) => {
  const iat = Math.floor(clock.now() / 1000);
  const token = await issuer.sign({ sub: 'alice', scope: 'chat', iat, exp: iat + 3600, ...claims });
  return { authorization: `Bearer ${token}` };
};

async function open(path: string, headers: Record<string, string>, protocols: string[] = []): Promise<Opened> {
  const result = await openThrough(gateway.url, path, headers, protocols);
  assert.equal(result.kind, 'open', JSON.stringify(result));
  return result as Opened;
}

async function recordsOf(requestId: string): Promise<AuditRecord[]> {
  await gateway.auditFor(requestId);
  return (await gateway.auditRecords()).filter((r) => r.requestId === requestId);
}

async function closeRecord(requestId: string): Promise<AuditRecord> {
  return eventually(async () => (await recordsOf(requestId)).find((r) => r.phase === 'close'), 'the close record');
}

async function openGauge(): Promise<number> {
  const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  return Number(/^stepgate_websockets_open\{route="chat"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

describe('an allowed WebSocket', () => {
  it('relays messages both ways with the upstream’s subprotocol and no extension', async () => {
    const before = upstream.connections.length;
    const client = await open('/api/chat/room-1?x=1', await bearer(), ['chat.v1', 'chat.v2']);
    assert.equal(client.ws.protocol, 'chat.v2');
    // The client offered permessage-deflate (ws does by default); the gateway takes none.
    assert.equal(client.ws.extensions, '');
    assert.equal(await client.messages.next(), GREETING);
    client.ws.send('ping');
    assert.equal(await client.messages.next(), 'ping');
    client.ws.send(Buffer.alloc(1000, 7));
    assert.equal(await client.messages.next(), '<1000 bytes>');
    const seen = upstream.connections[before]!;
    assert.equal(seen.url, '/chat/room-1?x=1');
    assert.deepEqual(seen.received, ['ping', '<1000 bytes>']);
    assert.equal(seen.headers['sec-websocket-protocol'], 'chat.v1,chat.v2');
    assert.equal(seen.headers['sec-websocket-extensions'], undefined);
    client.ws.close(1000, 'bye');
    assert.equal(await seen.closed, 1000);
  });

  it('sends the identity headers and the signed assertion upstream, and scrubs spoofed ones', async () => {
    const before = upstream.connections.length;
    const client = await open('/api/chat/room-2', {
      ...(await bearer({ email: 'alice@example.com' })),
      'X-Stepgate-Subject': 'root',
      'X-Stepgate-Assertion': 'forged',
      'X-Forwarded-For': '10.0.0.1',
      'X-Real-IP': '10.0.0.2',
      'X-Request-Id': 'mine',
      'X-HTTP-Method-Override': 'DELETE',
    });
    const seen = upstream.connections[before]!;
    assert.equal(seen.headers['x-stepgate-subject'], 'alice');
    assert.equal(seen.headers['x-stepgate-email'], 'alice@example.com');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-real-ip'], undefined);
    assert.equal(seen.headers['x-http-method-override'], undefined);
    assert.equal(seen.headers['authorization'], undefined);
    assert.equal(seen.headers['x-request-id'], client.requestId);
    assert.equal(seen.rawHeaders.filter((h) => /^x-stepgate-subject$/i.test(h)).length, 1);
    const jwks = createRemoteJWKSet(new URL(`${gateway.url}/.well-known/stepgate/jwks.json`));
    const { payload } = await jwtVerify(String(seen.headers['x-stepgate-assertion']), jwks, { audience: 'chat' });
    assert.equal(payload.sub, 'alice');
    client.ws.close();
  });

  it('is audited with an open record, counted once, and a close record with bytes and duration', async () => {
    const countedBefore = await gateway.requestsCounted({ route: 'chat', status: '101' });
    const client = await open('/api/chat/room-3', await bearer());
    await client.messages.next();
    assert.equal(await openGauge(), 1);
    client.ws.send('12345');
    await client.messages.next();
    client.ws.send(Buffer.alloc(100));
    await client.messages.next();
    const [opened] = await recordsOf(client.requestId);
    assert.equal(opened?.phase, 'open');
    assert.equal(opened.status, 101);
    assert.equal(opened.decision, 'allow');
    assert.equal(opened.reason, 'allowed');
    assert.equal(opened.forwarded, true);
    assert.equal(opened.caller?.sub, 'alice');
    assert.equal(opened.http.route, 'chat');
    client.ws.close(4001, 'done');
    const closed = await closeRecord(client.requestId);
    assert.equal(closed.status, 101);
    assert.deepEqual(closed.websocket, {
      bytesIn: 105,
      bytesOut: GREETING.length + 105,
      messagesIn: 2,
      messagesOut: 3,
      end: 'client',
      closeCode: 4001,
    });
    assert.ok(closed.durationMs >= opened.durationMs, `${closed.durationMs} < ${opened.durationMs}`);
    assert.equal((await recordsOf(client.requestId)).length, 2);
    assert.equal(await gateway.requestsCounted({ route: 'chat', status: '101' }), countedBefore + 1);
    assert.equal(await openGauge(), 0);
    // Its expiry timer went with it.
    await eventually(() => clock.pending() === 0, 'no timer left');
  });

  it('is closed with 1008 when the token expires, by the clock, and so recorded', async () => {
    const before = upstream.connections.length;
    const exp = Math.ceil(clock.now() / 1000) + 600;
    const client = await open('/api/chat/room-4', await bearer({ exp }));
    await client.messages.next();
    const closing = closeOf(client.ws);
    clock.advance(590_000);
    client.ws.send('still here');
    assert.equal(await client.messages.next(), 'still here');
    clock.advance(11_000);
    assert.deepEqual(await closing, { code: 1008, reason: 'token expired' });
    assert.equal(await upstream.connections[before]!.closed, 1001);
    const closed = await closeRecord(client.requestId);
    assert.equal(closed.websocket?.end, 'token_expired');
    assert.equal(closed.websocket?.closeCode, 1008);
  });

  it('is accounted when the client vanishes mid-stream', async () => {
    const before = upstream.connections.length;
    const client = await open('/api/chat/room-5', await bearer());
    await client.messages.next();
    client.ws.send('x');
    await client.messages.next();
    client.ws.terminate();
    assert.equal(await upstream.connections[before]!.closed, 1006);
    const closed = await closeRecord(client.requestId);
    assert.equal(closed.websocket?.end, 'client_gone');
    assert.equal(closed.websocket?.bytesIn, 1);
    assert.equal(closed.websocket?.closeCode, 1006);
  });

  it('ends the client’s side when the upstream vanishes', async () => {
    const before = upstream.connections.length;
    const client = await open('/api/chat/room-7', await bearer());
    await client.messages.next();
    const closing = closeOf(client.ws);
    upstream.connections[before]!.socket.terminate();
    assert.equal((await closing).code, 1006);
    assert.equal((await closeRecord(client.requestId)).websocket?.end, 'upstream_gone');
  });

  it('is cut on a message larger than server.bodyLimitBytes, which never reaches the upstream', async () => {
    const before = upstream.connections.length;
    const client = await open('/api/chat/room-8', await bearer());
    await client.messages.next();
    const closing = closeOf(client.ws);
    client.ws.send(Buffer.alloc(1024 * 1024 + 1));
    // ws sends 1009 and stops reading: the client sees it, or the reset if it was still sending.
    assert.ok([1006, 1009].includes((await closing).code));
    assert.equal(await upstream.connections[before]!.closed, 1009);
    assert.deepEqual(upstream.connections[before]!.received, []);
  });

  it('outlives server.requestTimeoutMs: a socket is not a slow request', async () => {
    const client = await open('/api/chat/room-9', await bearer());
    await client.messages.next();
    // The gateway's requestTimeoutMs is 1 s here, and Node checks it every second.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    client.ws.send('late');
    assert.equal(await client.messages.next(), 'late');
    client.ws.close();
  });

  it('passes an upstream’s close on to the client', async () => {
    const before = upstream.connections.length;
    const client = await open('/api/chat/room-6', await bearer());
    await client.messages.next();
    const closing = closeOf(client.ws);
    upstream.connections[before]!.socket.close(4002, 'upstream says bye');
    assert.deepEqual(await closing, { code: 4002, reason: 'upstream says bye' });
    assert.equal((await closeRecord(client.requestId)).websocket?.end, 'upstream');
  });
});

describe('a refused upgrade', () => {
  const refusals: [string, () => Promise<Record<string, string>>, number, string][] = [
    ['no token', async () => ({}), 401, 'SG_ERR_MISSING_TOKEN'],
    ['a bad token', async () => ({ authorization: 'Bearer not.a.token' }), 401, 'SG_ERR_INVALID_TOKEN'],
    ['an insufficient scope', () => bearer({ scope: 'orders:read' }), 403, 'SG_ERR_INSUFFICIENT_SCOPE'],
  ];
  for (const [what, headers, status, code] of refusals) {
    it(`with ${what} is an HTTP ${status} problem, not an upgrade, with one record`, async () => {
      const handshakes = upstream.handshakes();
      const result = await openThrough(gateway.url, '/api/chat/room', await headers());
      assert.equal(result.kind, 'refused');
      if (result.kind !== 'refused') return;
      assert.equal(result.status, status);
      assert.match(String(result.headers['content-type']), /^application\/problem\+json/);
      assert.equal(result.body['code'], code);
      const requestId = String(result.body['requestId']);
      assert.equal(result.headers['x-request-id'], requestId);
      const records = await recordsOf(requestId);
      assert.equal(records.length, 1);
      assert.equal(records[0]!.decision, 'deny');
      assert.equal(records[0]!.status, status);
      assert.equal(upstream.handshakes(), handshakes);
    });
  }

  it('on a route without websocket: true is a 400, before authentication, and nothing is forwarded', async () => {
    const forwarded = echo.received.length;
    for (const [path, headers] of [
      ['/api/orders/1', await bearer({ scope: 'orders:read' })],
      ['/api/orders/1', {}],
      ['/.well-known/stepgate/jwks.json', {}],
    ] as const) {
      const result = await openThrough(gateway.url, path, headers);
      assert.equal(result.kind, 'refused', path);
      if (result.kind !== 'refused') return;
      assert.equal(result.status, 400, path);
      assert.equal(result.body['code'], 'SG_ERR_UPGRADE_REFUSED', path);
      assert.equal((await recordsOf(String(result.body['requestId']))).length, 1);
    }
    assert.equal(echo.received.length, forwarded);
  });

  it('that the upstream does not answer within timeoutMs is a 504', async () => {
    const result = await openThrough(gateway.url, '/api/slow/room', await bearer());
    assert.equal(result.kind, 'refused');
    if (result.kind !== 'refused') return;
    assert.equal(result.status, 504);
    assert.equal(result.body['code'], 'SG_ERR_UPSTREAM_TIMEOUT');
  });

  it('whose client leaves during the upstream handshake is one client_aborted record', async () => {
    const handshakes = upstream.handshakes();
    const ws = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}/api/slow/gone`, { headers: await bearer() });
    ws.on('error', () => {});
    await eventually(() => upstream.handshakes() > handshakes, 'the upstream handshake');
    ws.terminate();
    const record = await eventually(
      async () => (await gateway.auditRecords()).find((r) => r.http.path === '/api/slow/gone'),
      'the record',
    );
    assert.equal(record.reason, 'client_aborted');
    assert.equal(record.decision, 'allow');
    assert.equal(record.status, 499);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await gateway.auditRecords()).filter((r) => r.requestId === record.requestId).length, 1);
  });

  it('over the route’s rate limit is a 429, and the first socket stays open', async () => {
    const headers = await bearer({ sub: 'limited-caller' });
    const first = await open('/api/limited/room', headers);
    await first.messages.next();
    const second = await openThrough(gateway.url, '/api/limited/room', headers);
    assert.equal(second.kind, 'refused');
    if (second.kind !== 'refused') return;
    assert.equal(second.status, 429);
    assert.equal(second.body['code'], 'SG_ERR_RATE_LIMITED');
    first.ws.send('still open');
    assert.equal(await first.messages.next(), 'still open');
    first.ws.close();
  });

  it('that the upstream refuses is a 502, audited as an upstream error', async () => {
    const result = await openThrough(gateway.url, '/api/refuse/room', await bearer());
    assert.equal(result.kind, 'refused');
    if (result.kind !== 'refused') return;
    assert.equal(result.status, 502);
    assert.equal(result.body['code'], 'SG_ERR_UPSTREAM_UPGRADE_REFUSED');
    const [record, ...more] = await recordsOf(String(result.body['requestId']));
    assert.equal(more.length, 0);
    assert.equal(record?.status, 502);
    assert.equal(record.decision, 'allow');
    assert.equal(record.reason, 'upstream_error');
    assert.equal(record.forwarded, true);
  });
});

describe('a malformed handshake', () => {
  const handshake = ([requestLine, ...lines]: string[]) =>
    rawRequest(
      gateway.url,
      [requestLine, `Host: ${new URL(gateway.url).host}`, 'Connection: Upgrade', ...lines, '', ''].join('\r\n'),
    );

  for (const [what, lines] of [
    ['version 8', ['GET /api/chat/r HTTP/1.1', 'Upgrade: websocket', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 8']],
    ['no key', ['GET /api/chat/r HTTP/1.1', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13']],
    ['to h2c', ['GET /api/chat/r HTTP/1.1', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']],
    ['a bad subprotocol', ['GET /api/chat/r HTTP/1.1', 'Upgrade: websocket', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: a b, a']],
  ] as const) {
    it(`(${what}) is a 400 problem, audited, and the connection ends`, async () => {
      const handshakes = upstream.handshakes();
      const res = await handshake([...lines, `Authorization: ${(await bearer()).authorization}`]);
      assert.equal(res.status, 400, res.raw);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(body['code'], 'SG_ERR_UPGRADE_REFUSED');
      assert.equal(res.headers['connection'], 'close');
      assert.equal((await recordsOf(String(body['requestId']))).length, 1);
      assert.equal(upstream.handshakes(), handshakes);
    });
  }
});

describe('websocket: true in the config', () => {
  it('is refused on an execution target and on a route without GET', () => {
    const config = chatConfig();
    const routes = config['routes'] as Record<string, unknown>[];
    const problems = configProblems({
      ...config,
      targets: {
        ...(config['targets'] as object),
        flows: { type: 'stepfunctions', stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:x', region: 'eu-west-1' },
      },
      routes: [
        ...routes,
        { name: 'flows', path: '/flows', methods: ['POST'], target: 'flows', websocket: true, allow: { scopes: ['x'] } },
        { name: 'post', path: '/api/post/*', methods: ['POST'], target: 'chat', websocket: true, allow: { scopes: ['x'] } },
      ],
    });
    const at = routes.length;
    assert.deepEqual(problems.filter((p) => p.includes('websocket')), [
      `routes[${at}].websocket: only for routes to an http target`,
      `routes[${at + 1}].websocket: needs GET among the methods (RFC 6455 §4.1)`,
    ]);
  });
});

describe('a gateway shutting down', () => {
  it('closes its open WebSockets with 1001 and writes their close records', async () => {
    const own = await startGateway(chatConfig(), { clock });
    await waitReady(own);
    const result = await openThrough(own.url, '/api/chat/room', await bearer());
    assert.equal(result.kind, 'open');
    const client = result as Opened;
    await client.messages.next();
    const closing = closeOf(client.ws);
    await own.close();
    assert.equal((await closing).code, 1001);
    const closed = (await own.auditRecords()).find((r) => r.requestId === client.requestId && r.phase === 'close');
    assert.equal(closed?.websocket?.end, 'shutdown');
  });
});
