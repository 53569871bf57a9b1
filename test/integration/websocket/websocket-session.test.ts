/**
 * WebSockets authenticated by a browser session: a handshake from another site carrying the
 * session cookie (cross-site WebSocket hijacking) is refused like an unsafe request, and an open
 * socket is closed with 1008 once the session ends — here by idling past `sessionIdleSeconds`
 * on the gateway's injected clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../../src/audit/record.ts';
import { eventually } from '../../support/gateway.ts';
import { CookieJar, login, type SsoStack, startSsoStack } from '../../support/sso.ts';
import { closeOf, GREETING, ManualClock, type Opened, openThrough, startWsUpstream, type WsUpstream } from './support.ts';

let upstream: WsUpstream;
let stack: SsoStack;
const clock = new ManualClock();
const jar = new CookieJar();
const IDLE_SECONDS = 900;

before(async () => {
  upstream = await startWsUpstream();
  stack = await startSsoStack({
    store: 'cookie',
    clock,
    sso: { sessionIdleSeconds: IDLE_SECONDS },
    targets: { chat: { type: 'http', url: upstream.url, stripPrefix: '/api', timeoutMs: 2000 } },
    routes: [
      {
        name: 'chat',
        path: '/api/chat/*',
        methods: ['GET'],
        target: 'chat',
        auth: ['session'],
        websocket: true,
        allow: { scopes: ['orders:read'] },
      },
    ],
  });
  assert.equal((await login(stack, jar, '/.stepgate/login')).status, 302);
});

after(async () => {
  await stack.close();
  await upstream.close();
});

const cookie = () => jar.header(stack.origin);

async function recordsOf(requestId: string): Promise<AuditRecord[]> {
  await stack.gateway.auditFor(requestId);
  return (await stack.gateway.auditRecords()).filter((r) => r.requestId === requestId);
}

describe('a WebSocket with a session cookie', () => {
  for (const [what, origin] of [
    ['from another site', { origin: 'https://evil.example' }],
    // The gateway listens on 127.0.0.1 too: same site, another origin.
    ['from a sibling port', { origin: 'http://127.0.0.1:1' }],
    ['without an Origin', {}],
  ] as const) {
    it(`is refused ${what} (403 csrf), before any upstream handshake`, async () => {
      const handshakes = upstream.handshakes();
      const result = await openThrough(stack.gateway.url, '/api/chat/room', { cookie: cookie(), ...origin });
      assert.equal(result.kind, 'refused');
      if (result.kind !== 'refused') return;
      assert.equal(result.status, 403);
      assert.equal(result.body['code'], 'SG_ERR_CSRF');
      const records = await recordsOf(String(result.body['requestId']));
      assert.deepEqual(records.map((r) => [r.decision, r.reason, r.status]), [['deny', 'csrf', 403]]);
      assert.equal(upstream.handshakes(), handshakes);
    });
  }

  it('opens from the gateway’s own origin, without the session cookie upstream', async () => {
    const before = upstream.connections.length;
    const result = await openThrough(stack.gateway.url, '/api/chat/room', { cookie: `${cookie()}; app=1`, origin: stack.origin });
    assert.equal(result.kind, 'open', JSON.stringify(result));
    const client = result as Opened;
    assert.equal(await client.messages.next(), GREETING);
    const seen = upstream.connections[before]!;
    // The jar also holds the IdP's cookies (same host): only the gateway's are taken out.
    assert.match(String(seen.headers['cookie']), /(^|; )app=1$/);
    assert.doesNotMatch(String(seen.headers['cookie']), /stepgate/i);
    assert.equal(seen.headers['x-stepgate-subject'], (await recordsOf(client.requestId))[0]?.caller?.sub);
    assert.equal((await recordsOf(client.requestId))[0]?.caller?.authMethod, 'session');
    client.ws.close();
  });

  it('is closed with 1008 when the session ends (idle), and the close record says so', async () => {
    const before = upstream.connections.length;
    const result = await openThrough(stack.gateway.url, '/api/chat/room', { cookie: cookie(), origin: stack.origin });
    assert.equal(result.kind, 'open', JSON.stringify(result));
    const client = result as Opened;
    await client.messages.next();
    const closing = closeOf(client.ws);
    clock.advance((IDLE_SECONDS + 1) * 1000);
    assert.deepEqual(await closing, { code: 1008, reason: 'session ended' });
    assert.equal(await upstream.connections[before]!.closed, 1001);
    const closed = await eventually(
      async () => (await recordsOf(client.requestId)).find((r) => r.phase === 'close'),
      'the close record',
    );
    assert.equal(closed.websocket?.end, 'session_ended');
    // No session check outlives its socket.
    await eventually(() => clock.pending() === 0, 'no timer left');
  });
});
