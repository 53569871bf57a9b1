/**
 * Redis down (`store: redis`): every request that needs the session store is a 503
 * `SG_ERR_SESSION_STORE_UNAVAILABLE` — for a page load too, never a redirect to log in, which
 * would only loop — and sessions work again once Redis is back. Redis sits behind a TCP proxy
 * the test cuts.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, it } from 'node:test';
import { redisUrl } from '../../support/services.ts';
import { ALICE, CookieJar, login, loginUntilCallback, type SsoStack, startSsoStack } from '../../support/sso.ts';

/** A TCP proxy to Redis that can be cut and restored on the same port. */
async function redisProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const start = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  };
  await start();
  return {
    url: () => `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server?.close(resolve));
    },
  };
}

let stack: SsoStack | undefined;
let proxy: Awaited<ReturnType<typeof redisProxy>> | undefined;
after(async () => {
  await stack?.close();
  await proxy?.stop();
});

it('answers 503, not a login redirect, while Redis is down; recovers after', async (t) => {
  const url = redisUrl(t);
  if (!url) return;
  proxy = await redisProxy(new URL(url));
  stack = await startSsoStack({ store: 'redis', redisUrl: proxy.url() });
  const s = stack;
  const jar = new CookieJar();
  assert.equal((await login(s, jar, '/.stepgate/login', ALICE)).status, 302);
  assert.equal((await jar.fetch(`${s.origin}/api/orders/1`)).status, 200);
  // A login walked up to its callback, to complete while Redis is down.
  const walk = new CookieJar();
  const callback = await loginUntilCallback(s, walk, '/.stepgate/login', ALICE);

  await proxy.stop();
  const down = proxy;
  try {
    for (const [path, accept] of [
      ['/api/orders/1', 'text/html'],
      ['/api/orders/1', 'application/json'],
      ['/.stepgate/', 'text/html'],
      ['/.stepgate/whoami', 'application/json'],
    ] as const) {
      const started = performance.now();
      const res = await jar.fetch(`${s.origin}${path}`, { headers: { accept } });
      assert.equal(res.status, 503, `${path} (${accept})`);
      const body = (await res.json()) as { code: string };
      assert.equal(body.code, 'SG_ERR_SESSION_STORE_UNAVAILABLE');
      assert.ok(performance.now() - started < 5000, 'fails fast');
      const record = await s.gateway.auditFor(res.headers.get('x-request-id')!);
      assert.equal(record.reason, 'session_store_unavailable');
    }
    // A login that completes now cannot be stored: a 503 too, and no session cookie.
    const res = await walk.fetch(callback);
    assert.equal(res.status, 503);
    assert.ok(!res.headers.getSetCookie().some((c) => c.startsWith('__Host-stepgate-session-0=v1')));
  } finally {
    await down.start();
  }

  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await jar.fetch(`${s.origin}/api/orders/1`)).status;
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(status, 200, 'the session works again once Redis is back');
});
