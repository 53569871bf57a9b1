/**
 * `routes[].rateLimit`: a fixed window per (route, caller) — `<issuer>/<sub>`, or the client IP on
 * a public route — counted only for requests the policy allowed; in memory for one replica, in
 * Redis for all of them; refused (503) rather than unlimited while Redis is down.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { type TestClock, testClock } from '../../support/clock.ts';
import { redisUrl } from '../../support/services.ts';

let ci: TestIssuer;
let other: TestIssuer;
let upstream: EchoUpstream;
const gateways: TestGateway[] = [];

before(async () => {
  [ci, other, upstream] = await Promise.all([startIssuer(), startIssuer(), startEchoUpstream()]);
});

after(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await Promise.all([upstream.close(), ci.close(), other.close()]);
});

/** Two issuers; `limited` (3 per minute), `write` (2 per minute), `burst` (1 per second), a public route. */
function rateLimitConfig(redis?: { url: string; keyPrefix: string }): Record<string, unknown> {
  const orders = { type: 'http', url: upstream.url, timeoutMs: 1000 };
  return {
    issuers: [
      { name: 'ci', issuer: ci.issuer, audiences: ['stepgate'], jwksUri: ci.jwksUri },
      { name: 'other', issuer: other.issuer, audiences: ['stepgate'], jwksUri: other.jwksUri },
    ],
    ...(redis ? { redis } : {}),
    targets: { orders },
    routes: [
      {
        name: 'limited',
        path: '/limited',
        methods: ['GET'],
        target: 'orders',
        allow: { scopes: ['orders:read'] },
        rateLimit: { perCaller: 3, windowSeconds: 60 },
      },
      {
        name: 'write',
        path: '/write',
        methods: ['POST'],
        target: 'orders',
        allow: { scopes: ['orders:write'] },
        rateLimit: { perCaller: 2, windowSeconds: 60 },
      },
      {
        name: 'burst',
        path: '/burst',
        methods: ['GET'],
        target: 'orders',
        allow: { scopes: ['orders:read'] },
        rateLimit: { perCaller: 1, windowSeconds: 1 },
      },
      {
        name: 'status',
        path: '/status',
        methods: ['GET'],
        target: 'orders',
        public: true,
        rateLimit: { perCaller: 2, windowSeconds: 60 },
      },
    ],
  };
}

async function gatewayWith(
  redis?: { url: string; keyPrefix: string },
  clock?: TestClock,
): Promise<TestGateway> {
  const gateway = await startGateway(rateLimitConfig(redis), clock ? { now: clock.now } : {});
  gateways.push(gateway);
  await waitReady(gateway);
  return gateway;
}

/** A token for a fresh subject (each test its own budget) unless `sub` is given. */
const token = (issuer: TestIssuer, sub: string, scope = 'orders:read') => issuer.sign({ sub, scope });

async function call(gateway: TestGateway, path: string, bearer?: string, method = 'GET') {
  const res = await fetch(gateway.url + path, {
    method,
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
  });
  const text = await res.text();
  return { res, status: res.status, json: () => JSON.parse(text) as Record<string, unknown> };
}

const statuses = async (n: number, request: () => Promise<{ status: number }>) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request()).status);
  return out;
};

describe('rate limits in memory (one replica)', () => {
  const clock = testClock();
  let gateway: TestGateway;
  before(async () => {
    gateway = await gatewayWith(undefined, clock);
  });

  it('allows perCaller requests with RateLimit headers, then 429 with Retry-After, audited rate_limited', async () => {
    const t = await token(ci, `sub-${randomUUID()}`);
    for (const remaining of ['2', '1', '0']) {
      const { res, status } = await call(gateway, '/limited', t);
      assert.equal(status, 200);
      assert.equal(res.headers.get('ratelimit-limit'), '3');
      assert.equal(res.headers.get('ratelimit-remaining'), remaining);
      const reset = Number(res.headers.get('ratelimit-reset'));
      assert.ok(reset >= 1 && reset <= 60, `RateLimit-Reset ${reset}`);
      assert.equal(res.headers.get('ratelimit-policy'), '3;w=60');
    }
    const received = upstream.received.length;
    const { res, status, json } = await call(gateway, '/limited', t);
    assert.equal(status, 429);
    assert.equal(json()['code'], 'SG_ERR_RATE_LIMITED');
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(res.headers.get('ratelimit-remaining'), '0');
    assert.equal(upstream.received.length, received, 'nothing reached the upstream');
    const record = await gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.decision, 'deny');
    assert.equal(record.reason, 'rate_limited');
    assert.equal(record.status, 429);
    assert.equal(record.http.route, 'limited');
  });

  it('gives the same sub at two issuers separate budgets', async () => {
    const sub = `shared-${randomUUID()}`;
    const [atCi, atOther] = [await token(ci, sub), await token(other, sub)];
    assert.deepEqual(await statuses(4, () => call(gateway, '/limited', atCi)), [200, 200, 200, 429]);
    assert.deepEqual(await statuses(4, () => call(gateway, '/limited', atOther)), [200, 200, 200, 429]);
  });

  it('does not spend the budget on requests the policy denied (403)', async () => {
    const sub = `writer-${randomUUID()}`;
    const reader = await token(ci, sub);
    assert.deepEqual(await statuses(3, () => call(gateway, '/write', reader, 'POST')), [403, 403, 403]);
    const writer = await token(ci, sub, 'orders:write');
    assert.deepEqual(await statuses(3, () => call(gateway, '/write', writer, 'POST')), [200, 200, 429]);
  });

  it('starts a new window once the last one ends', async () => {
    const t = await token(ci, `burst-${randomUUID()}`);
    assert.deepEqual(await statuses(2, () => call(gateway, '/burst', t)), [200, 429]);
    clock.advance(1000);
    assert.equal((await call(gateway, '/burst', t)).status, 200);
  });

  it('counts anonymous callers on a public route by client IP', async () => {
    assert.deepEqual(await statuses(3, () => call(gateway, '/status')), [200, 200, 429]);
    const { res } = await call(gateway, '/status');
    assert.equal((await gateway.auditFor(res.headers.get('x-request-id')!)).reason, 'rate_limited');
  });

  it('cannot be dodged by an anonymous caller naming another address in X-Forwarded-For (no trustProxy)', async () => {
    const fresh = await gatewayWith();
    const spoofed = (i: number) => ({
      'x-forwarded-for': `203.0.113.${i}`,
      forwarded: `for=198.51.100.${i}`,
      'x-real-ip': `192.0.2.${i}`,
    });
    const got: number[] = [];
    for (let i = 1; i <= 4; i++) got.push((await fetch(`${fresh.url}/status`, { headers: spoofed(i) })).status);
    assert.deepEqual(got, [200, 200, 429, 429]);
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('rate limits in Redis (shared by replicas)', () => {
  const redis = (t: TestContext) => {
    const url = redisUrl(t);
    return url ? { url, keyPrefix: `stepgate-test:${randomUUID()}:` } : undefined;
  };

  it('is one budget for two gateways sharing a Redis', async (t) => {
    const shared = redis(t);
    if (!shared) return;
    const [a, b] = [await gatewayWith(shared), await gatewayWith(shared)];
    const bearer = await token(ci, `replicas-${randomUUID()}`);
    assert.deepEqual(
      [
        (await call(a, '/limited', bearer)).status,
        (await call(b, '/limited', bearer)).status,
        (await call(a, '/limited', bearer)).status,
      ],
      [200, 200, 200],
    );
    const refused = await call(b, '/limited', bearer);
    assert.equal(refused.status, 429);
    assert.equal(refused.json()['code'], 'SG_ERR_RATE_LIMITED');
    assert.equal((await call(a, '/limited', bearer)).status, 429);
    // Another caller on the same replicas still has its own budget.
    assert.equal((await call(a, '/limited', await token(other, `replicas-${randomUUID()}`))).status, 200);
  });

  it('starts a new window in Redis once the last one ends', async (t) => {
    const shared = redis(t);
    if (!shared) return;
    const gateway = await gatewayWith(shared);
    const bearer = await token(ci, `redis-burst-${randomUUID()}`);
    assert.deepEqual(await statuses(2, () => call(gateway, '/burst', bearer)), [200, 429]);
    // Redis's clock decides when its window ends (the key's PEXPIRE): this one waits for real.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await call(gateway, '/burst', bearer)).status, 200);
  });

  it('refuses with 503 SG_ERR_RATE_LIMIT_UNAVAILABLE, never an unlimited 200, while Redis is unreachable', async () => {
    const gateway = await gatewayWith({ url: `redis://127.0.0.1:${await closedPort()}`, keyPrefix: 'unused:' });
    const received = upstream.received.length;
    const { res, status, json } = await call(gateway, '/limited', await token(ci, `down-${randomUUID()}`));
    assert.equal(status, 503);
    assert.equal(json()['code'], 'SG_ERR_RATE_LIMIT_UNAVAILABLE');
    assert.equal(upstream.received.length, received, 'nothing reached the upstream');
    const record = await gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.decision, 'deny');
    assert.equal(record.reason, 'rate_limit_unavailable');
  });
});
