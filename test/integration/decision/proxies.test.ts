/**
 * The "done when" of decision mode: nginx (auth_request) and Traefik (forwardAuth), each in front
 * of an upstream with stepgate deciding, admit and refuse exactly what stepgate in gateway mode
 * does for the same routes and requests; so does Envoy's ext_authz protocol (through a stand-in,
 * see test/support/decision.ts). Every check is audited once, with `"mode":"decision"`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { AuditRecord } from '../../../src/audit/record.ts';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { decisionTestConfig, rawRequest, startEnvoyStandIn } from '../../support/decision.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { IDENTITY_HEADERS, startNginx, startTraefik } from '../../support/proxies.ts';
import { nginxPath, traefikPath } from '../../support/services.ts';

const PUBLIC_URL = 'https://app.example.com';

interface Column {
  readonly name: string;
  /** Where the client sends its requests: the gateway itself, or the proxy in front. */
  readonly url: string;
  readonly gateway: TestGateway;
  readonly upstream: EchoUpstream;
  readonly decision: boolean;
  close(): Promise<void>;
}

let issuer: TestIssuer;
let stranger: TestIssuer;
const columns: Column[] = [];

type Front = (gateway: TestGateway, upstream: EchoUpstream) => Promise<{ url: string; close(): Promise<void> }>;

async function column(name: string, front: Front | undefined): Promise<Column> {
  const upstream = await startEchoUpstream();
  const { issuer: iss, jwksUri } = issuer;
  const upstreamUrl = upstream.url;
  const gateway = await startGateway(decisionTestConfig({ issuer: iss, jwksUri, upstreamUrl, publicUrl: PUBLIC_URL }));
  await waitReady(gateway);
  const proxy = front ? await front(gateway, upstream) : undefined;
  const result: Column = {
    name,
    url: proxy?.url ?? gateway.url,
    gateway,
    upstream,
    decision: proxy !== undefined,
    async close() {
      await proxy?.close();
      await gateway.close();
      await upstream.close();
    },
  };
  columns.push(result);
  return result;
}

before(async () => {
  [issuer, stranger] = await Promise.all([startIssuer(), startIssuer()]);
});

after(async () => {
  await Promise.all(columns.map((c) => c.close()));
  await Promise.all([issuer.close(), stranger.close()]);
});

type Outcome = 'admit' | 'refuse' | 'login';

interface Row {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly token?: () => Promise<string>;
  readonly headers?: Record<string, string>;
  readonly expect: Outcome;
}

const now = () => Math.floor(Date.now() / 1000);
const reader = () => issuer.sign({ sub: 'reader', scope: 'orders:read' });
const writer = () => issuer.sign({ sub: 'writer', scope: 'orders:read orders:write' });
const limited = () => issuer.sign({ sub: 'limited', scope: 'orders:read' });

/** The same requests for every column, in order (the rate-limited ones count within a column). */
const ROWS: readonly Row[] = [
  { name: 'read with orders:read', method: 'GET', path: '/api/orders/1?expand=items', token: reader, expect: 'admit' },
  { name: 'HEAD like GET', method: 'HEAD', path: '/api/orders/1', token: reader, expect: 'admit' },
  { name: 'no credentials', method: 'GET', path: '/api/orders/1', expect: 'refuse' },
  { name: 'a browser on a session route', method: 'GET', path: '/api/orders/1', headers: { accept: 'text/html' }, expect: 'login' },
  {
    name: 'expired token',
    method: 'GET',
    path: '/api/orders/1',
    token: () => issuer.sign({ scope: 'orders:read', iat: now() - 7200, exp: now() - 3600 }),
    expect: 'refuse',
  },
  {
    name: 'token of an issuer not configured',
    method: 'GET',
    path: '/api/orders/1',
    token: () => stranger.sign({ scope: 'orders:read' }),
    expect: 'refuse',
  },
  { name: 'write without orders:write', method: 'POST', path: '/api/orders/1', token: reader, expect: 'refuse' },
  { name: 'write with orders:write', method: 'POST', path: '/api/orders/1', token: writer, expect: 'admit' },
  { name: 'a method no route takes', method: 'PATCH', path: '/api/orders/1', token: writer, expect: 'refuse' },
  { name: 'public route', method: 'GET', path: '/public/status', expect: 'admit' },
  { name: 'no route', method: 'GET', path: '/admin', token: writer, expect: 'refuse' },
  { name: 'repeated slashes and a dot segment', method: 'GET', path: '/api//orders/./3', token: reader, expect: 'admit' },
  { name: 'encoded dot segments out of the route', method: 'GET', path: '/api/orders/%2e%2e/%2e%2e/admin', token: writer, expect: 'refuse' },
  { name: 'an encoded slash', method: 'GET', path: '/api/orders/a%2Fb', token: reader, expect: 'refuse' },
  { name: 'rate limit: first', method: 'GET', path: '/api/limited', token: limited, expect: 'admit' },
  { name: 'rate limit: second', method: 'GET', path: '/api/limited', token: limited, expect: 'admit' },
  { name: 'rate limit: third', method: 'GET', path: '/api/limited', token: limited, expect: 'refuse' },
];

async function send(target: Column, row: Row, caseId: string): Promise<Outcome> {
  const headers: Record<string, string> = { 'x-test-case': caseId, ...row.headers };
  if (row.token) headers['authorization'] = `Bearer ${await row.token()}`;
  const answer = await rawRequest(target.url, { method: row.method, path: row.path, headers });
  const reached = target.upstream.received.some((r) => r.headers['x-test-case'] === caseId);
  if (answer.status === 302 && String(answer.headers.location).includes('/.stepgate/login?rd=')) {
    assert.ok(!reached, `${target.name} ${row.name}: redirected and forwarded`);
    return 'login';
  }
  if (reached !== (answer.status >= 200 && answer.status < 300)) {
    assert.fail(`${target.name} ${row.name}: status ${answer.status} but upstream reached: ${reached}`);
  }
  return reached ? 'admit' : 'refuse';
}

/** Runs the table against one column and checks every check was audited once, in decision mode. */
async function runTable(t: TestContext, target: Column): Promise<void> {
  const outcomes: Record<string, Outcome> = {};
  for (const [i, row] of ROWS.entries()) outcomes[row.name] = await send(target, row, `${target.name}-${i}`);
  assert.deepEqual(outcomes, Object.fromEntries(ROWS.map((row) => [row.name, row.expect])));
  const records = await target.gateway.auditRecords();
  if (target.decision) {
    assert.equal(records.length, ROWS.length, 'one audit record per check');
    assert.ok(records.every((r) => r.mode === 'decision'));
  } else {
    assert.ok(records.every((r) => r.mode === undefined));
  }
  const denied = (list: AuditRecord[]) => list.filter((r) => r.decision === 'deny').length;
  assert.equal(denied(records), ROWS.filter((row) => row.expect !== 'admit').length);
  t.diagnostic(`${target.name}: ${ROWS.length} requests, outcomes as gateway mode`);
}

/** What the upstream saw of a request the client sent with spoofed identity headers. */
async function spoofed(target: Column): Promise<Record<string, unknown>> {
  const token = await issuer.sign({ sub: 'reader', scope: 'orders:read' });
  const answer = await rawRequest(target.url, {
    method: 'GET',
    path: '/api/orders/5',
    headers: {
      authorization: `Bearer ${token}`,
      'x-test-case': `${target.name}-spoof`,
      'x-stepgate-subject': 'admin',
      'x-stepgate-email': 'ceo@example.com',
      'x-stepgate-groups': 'admins',
      'x-original-uri': '/public/status',
      'x-forwarded-uri': '/public/status',
    },
  });
  assert.equal(answer.status, 200);
  return target.upstream.received.find((r) => r.headers['x-test-case'] === `${target.name}-spoof`)!.headers;
}

async function assertIdentityUpstream(target: Column): Promise<void> {
  const headers = await spoofed(target);
  assert.equal(headers['x-stepgate-subject'], 'reader');
  assert.equal(headers['x-stepgate-issuer'], 'ci');
  assert.equal(headers['x-stepgate-scopes'], 'orders:read');
  assert.ok(!headers['x-stepgate-email'], `the client's X-Stepgate-Email never arrives: ${String(headers['x-stepgate-email'])}`);
  assert.ok(!headers['x-stepgate-groups'], 'nor its X-Stepgate-Groups');
  const jwks = createRemoteJWKSet(new URL(`${target.gateway.url}/.well-known/stepgate/jwks.json`));
  const { payload } = await jwtVerify(String(headers['x-stepgate-assertion']), jwks, { audience: 'orders' });
  assert.equal(payload.sub, 'reader');
  // The upstream's request id is the decision's: the audit record of this request is findable.
  const record = await target.gateway.auditFor(String(headers['x-request-id']));
  assert.equal(record.http.path, '/api/orders/5');
}

describe('gateway mode', () => {
  it('admits and refuses the table', async (t) => runTable(t, await column('gateway', undefined)));
});

describe('Envoy ext_authz (HTTP protocol, stand-in)', () => {
  let envoy: Column;
  before(async () => {
    envoy = await column('envoy', (gateway, upstream) =>
      startEnvoyStandIn({
        checkUrl: `${gateway.decisionUrl}/envoy`,
        upstreamUrl: upstream.url,
        allowedHeaders: ['cookie', 'accept', 'origin', 'sec-fetch-site', 'user-agent'],
        upstreamHeaders: IDENTITY_HEADERS.map((h) => h.toLowerCase()),
      }),
    );
  });
  it('admits and refuses exactly as gateway mode', async (t) => runTable(t, envoy));
  it('passes the identity upstream, replacing what the client sent', () => assertIdentityUpstream(envoy));
});

describe('nginx auth_request', () => {
  let nginx: Column | undefined;
  before(async () => {
    const path = process.env['STEPGATE_TEST_NGINX'];
    if (path) {
      nginx = await column('nginx', (gateway, upstream) =>
        startNginx(path, { decisionUrl: gateway.decisionUrl!, upstreamUrl: upstream.url }),
      );
    }
  });
  it('admits and refuses exactly as gateway mode', async (t) => {
    if (nginxPath(t)) await runTable(t, nginx!);
  });
  it('passes the identity upstream, replacing what the client sent, and ignores a spoofed X-Original-URI', async (t) => {
    if (nginxPath(t)) await assertIdentityUpstream(nginx!);
  });
  it('refuses a client that names an original URI to the decision listener itself', async (t) => {
    if (!nginxPath(t)) return;
    const answer = await rawRequest(nginx!.gateway.decisionUrl!, {
      method: 'GET',
      path: '/nginx',
      headers: { 'x-original-uri': '/public/status', 'x-original-method': 'GET' },
      localAddress: '127.0.0.2',
    });
    assert.equal(answer.status, 403);
    const record = await nginx!.gateway.auditFor(String(answer.headers['x-request-id']));
    assert.deepEqual([record.mode, record.reason], ['decision', 'untrusted_peer']);
  });
});

describe('Traefik forwardAuth', () => {
  let traefik: Column | undefined;
  before(async () => {
    const path = process.env['STEPGATE_TEST_TRAEFIK'];
    if (path) {
      traefik = await column('traefik', (gateway, upstream) =>
        startTraefik(path, { decisionUrl: gateway.decisionUrl!, upstreamUrl: upstream.url }),
      );
    }
  });
  it('admits and refuses exactly as gateway mode', async (t) => {
    if (traefikPath(t)) await runTable(t, traefik!);
  });
  it('passes the identity upstream, replacing what the client sent, and ignores a spoofed X-Forwarded-Uri', async (t) => {
    if (traefikPath(t)) await assertIdentityUpstream(traefik!);
  });
});
