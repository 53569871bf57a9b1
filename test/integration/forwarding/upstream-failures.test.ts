/** An upstream that is down, slow, or hangs up: the caller gets 502/504 problems, audited. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

let issuer: TestIssuer;
let slow: Server;
let gateway: TestGateway;
let closedPort: number;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

before(async () => {
  issuer = await startIssuer();
  slow = createServer((req, res) => {
    if (req.url?.endsWith('/hangup')) {
      req.socket.destroy();
      return;
    }
    // Never answers within the target's 300 ms.
    setTimeout(() => res.end('late'), 2000).unref();
  });
  const slowPort = await listen(slow);
  const probe = createServer();
  closedPort = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  gateway = await startGateway({
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
    targets: {
      down: { type: 'http', url: `http://127.0.0.1:${closedPort}` },
      slow: { type: 'http', url: `http://127.0.0.1:${slowPort}`, timeoutMs: 300 },
    },
    routes: [
      { name: 'down', path: '/down/*', target: 'down', allow: { scopes: ['x'] } },
      { name: 'slow', path: '/slow/*', target: 'slow', allow: { scopes: ['x'] } },
    ],
  });
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  slow.closeAllConnections();
  await new Promise((resolve) => slow.close(resolve));
  await issuer.close();
});

async function get(path: string) {
  const token = await issuer.sign({ sub: 'svc', scope: 'x' });
  const res = await fetch(gateway.url + path, { headers: { authorization: `Bearer ${token}` } });
  const problem = (await res.json()) as { code: string; requestId: string };
  return { res, problem };
}

describe('an upstream that fails', () => {
  it('refusing connections is a 502, audited as an allowed request that failed upstream', async () => {
    const { res, problem } = await get('/down/x');
    assert.equal(res.status, 502);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(problem.code, 'SG_ERR_UPSTREAM_UNAVAILABLE');
    const record = await gateway.auditFor(problem.requestId);
    assert.equal(record.decision, 'allow');
    assert.equal(record.reason, 'upstream_error');
    assert.equal(record.status, 502);
  });

  it('too slow is a 504 after the target time-out', async () => {
    const { res, problem } = await get('/slow/x');
    assert.equal(res.status, 504);
    assert.equal(problem.code, 'SG_ERR_UPSTREAM_TIMEOUT');
    assert.equal((await gateway.auditFor(problem.requestId)).reason, 'upstream_error');
  });

  it('hanging up mid-request is a 502', async () => {
    const { res, problem } = await get('/slow/hangup');
    assert.equal(res.status, 502);
    assert.equal(problem.code, 'SG_ERR_UPSTREAM_UNAVAILABLE');
  });

  it('is counted in the upstream duration metric of its target', async () => {
    const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
    assert.match(metrics, /stepgate_upstream_duration_seconds_count\{target="slow"\} [1-9]/);
    assert.match(
      metrics,
      /stepgate_requests_total\{route="down",decision="allow",reason="upstream_error",status="502"\} [1-9]/,
    );
  });
});
