/**
 * Replicas that agree (DESIGN.md "Scaling out"): two real `stepgate serve` processes with one
 * config (their own copies of it) behind a round-robin HTTP balancer, sharing Redis, the cookie
 * secret and `assertion.keys`, in front of
 * - an upstream that verifies every `X-Stepgate-Assertion` with jose against the JWKS it fetched
 *   once through the balancer (as an upstream behind a load balancer does): it always succeeds;
 * - the embedded IdP (browser login for alice, client credentials for ci-bot);
 * - the local Step Functions endpoint (an Express workflow for Idempotency-Key dedupe).
 * A session made on one replica works on the other, logout on one ends it on both, rate limits
 * and idempotency keys are shared, and SIGHUP on one replica does not disturb the other.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { jwkThumbprint } from '../../src/config/assertion-keys.ts';
import { startIdp, type TestIdp } from '../support/idp.ts';
import { redisUrl } from '../support/services.ts';
import { ALICE, CookieJar, freePort, login, SSO_CLIENT, USERS } from '../support/sso.ts';
import { startStepgate, type StepgateProcess } from '../support/stepgate-process.ts';
import { startTestStepFunctions, TEST_AWS, type TestStepFunctions, uniqueId } from '../support/stepfunctions.ts';

/**
 * Round robin over `backends` (from the first, after `pin(undefined)`), or every request to one
 * of them (`pin(i)`); each answer says which replica gave it (`x-test-replica`).
 */
interface Balancer {
  readonly origin: string;
  backends: number[];
  pin(index: number | undefined): void;
  close(): Promise<void>;
}

async function startBalancer(): Promise<Balancer> {
  let next = 0;
  let pinned: number | undefined;
  const balancer: Balancer = {
    origin: '',
    backends: [],
    pin(index) {
      pinned = index;
      next = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const index = pinned ?? next++ % balancer.backends.length;
    const upstream = request(
      { host: '127.0.0.1', port: balancer.backends[index], method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-test-replica': String(index) });
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => res.writeHead(502).end(String(err)));
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(balancer, { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** An upstream that accepts only requests whose assertion verifies with the gateway's JWKS. */
async function startVerifyingUpstream(origin: string) {
  // Fetched through the balancer, cached, refetched for an unknown kid at most every 30 s: a
  // replica with a key of its own would be refused here.
  const jwks = createRemoteJWKSet(new URL(`${origin}/.well-known/stepgate/jwks.json`));
  const verdicts: { ok: boolean; kid?: string | undefined; error?: string }[] = [];
  const server = createServer((req, res) => {
    const assertion = req.headers['x-stepgate-assertion'];
    const answer = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (typeof assertion !== 'string') return void answer(401, { error: 'no assertion' });
    jwtVerify(assertion, jwks, { issuer: origin, audience: 'orders', algorithms: ['ES256'] }).then(
      ({ payload }) => {
        verdicts.push({ ok: true, kid: decodeProtectedHeader(assertion).kid });
        answer(200, { sub: payload.sub, path: req.url });
      },
      (err: Error) => {
        verdicts.push({ ok: false, error: `${err.name}: ${err.message}` });
        answer(401, { error: err.message });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    verdicts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const COOKIE_SECRET = 'replicas-share-this-cookie-secret-0123456789';
const PEM = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

interface Replica {
  readonly process: StepgateProcess;
  readonly configFile: string;
  readonly adminUrl: string;
}

interface Fleet {
  readonly dir: string;
  readonly balancer: Balancer;
  readonly idp: TestIdp;
  readonly sfn: TestStepFunctions;
  readonly upstream: Awaited<ReturnType<typeof startVerifyingUpstream>>;
  readonly replicas: Replica[];
  readonly signingKid: string;
  readonly config: string;
}

let fleet: Fleet | undefined;
/** Whatever started, stopped after the file even when the setup failed half-way. */
const cleanup: (() => Promise<unknown>)[] = [];

function gatewayConfig(f: Omit<Fleet, 'replicas' | 'config' | 'signingKid'>, redis: string): string {
  return `# One config for every replica; only the ports come from each one's environment.
server: { host: 127.0.0.1, port: "\${PORT}", publicUrl: "${f.balancer.origin}", shutdownGraceMs: 1000 }
admin: { host: 127.0.0.1, port: "\${ADMIN_PORT}" }
issuers:
  - { name: keycloak, issuer: "${f.idp.issuer}", audiences: [stepgate], preset: keycloak }
sso:
  issuer: keycloak
  clientId: ${SSO_CLIENT.clientId}
  clientSecret: ${SSO_CLIENT.clientSecret}
  scopes: [openid, profile, email, orders:read]
  cookieSecret: \${COOKIE_SECRET}
  store: redis
redis: { url: "${redis}", keyPrefix: "stepgate-test:${uniqueId()}:" }
assertion:
  keys:
    - { file: "${join(f.dir, 'assertion-a.pem')}" }
    - { file: "${join(f.dir, 'assertion-b.pem')}" }
targets:
  orders: { type: http, url: "${f.upstream.url}", stripPrefix: /api, timeoutMs: 5000 }
  check: { type: stepfunctions, stateMachineArn: "${f.sfn.stateMachineArn('check')}", region: ${f.sfn.region}, endpoint: "${f.sfn.url}", mode: sync, timeoutMs: 5000 }
routes:
  - { name: orders, path: /api/orders/*, methods: [GET], target: orders, auth: [bearer, session], allow: { scopes: [orders:read] } }
  - { name: limited, path: /api/limited, methods: [GET], target: orders, allow: { scopes: [orders:read] }, rateLimit: { perCaller: 3, windowSeconds: 600 } }
  - { name: check, path: /workflows/check, methods: [POST], target: check, allow: { scopes: [deploy:start] } }
audit: { sinks: [{ type: stdout }] }
logging: { level: info }
`;
}

async function startReplica(f: Omit<Fleet, 'replicas' | 'signingKid'>, index: number): Promise<Replica> {
  const dir = join(f.dir, `replica-${index}`);
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'gateway.yaml');
  await writeFile(configFile, f.config);
  const [port, adminPort] = [await freePort(), await freePort()];
  const running = await startStepgate(['serve', '--config', configFile], {
    ready: /stepgate listening/,
    env: {
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      COOKIE_SECRET,
      AWS_ACCESS_KEY_ID: TEST_AWS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_AWS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  for (let i = 0; (await fetch(`${adminUrl}/readyz`)).status !== 200; i++) {
    if (i > 200) throw new Error(`replica ${index} not ready:\n${running.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  f.balancer.backends[index] = port;
  return { process: running, configFile, adminUrl };
}

before(async () => {
  const redis = process.env['STEPGATE_TEST_REDIS_URL'];
  if (!redis) return;
  const dir = await mkdtemp(join(tmpdir(), 'stepgate-replicas-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const a = PEM();
  await writeFile(join(dir, 'assertion-a.pem'), a);
  await writeFile(join(dir, 'assertion-b.pem'), PEM());
  const balancer = await startBalancer();
  cleanup.push(() => balancer.close());
  const { origin } = balancer;
  const [idp, sfn, upstream] = await Promise.all([
    startIdp({
      preset: 'keycloak',
      users: USERS,
      clients: [
        {
          ...SSO_CLIENT,
          scope: 'orders:read',
          redirectUris: [`${origin}/.stepgate/callback`],
          postLogoutRedirectUris: [`${origin}/.stepgate/logged-out`],
          backchannelLogoutUri: `${origin}/.stepgate/backchannel-logout`,
        },
        { clientId: 'ci-bot', clientSecret: 'ci-bot-secret', scope: 'orders:read deploy:start' },
      ],
    }),
    startTestStepFunctions({ credentials: [TEST_AWS] }),
    startVerifyingUpstream(origin),
  ]);
  cleanup.push(() => idp.close(), () => sfn.close(), () => upstream.close());
  const base = { dir, balancer, idp, sfn, upstream };
  const config = gatewayConfig(base, redis);
  const replicas = await Promise.all([0, 1].map((i) => startReplica({ ...base, config }, i)));
  const { x, y } = createPublicKey(a).export({ format: 'jwk' }) as { x: string; y: string };
  fleet = { ...base, config, replicas, signingKid: jwkThumbprint({ crv: 'P-256', kty: 'EC', x, y }) };
});

after(async () => {
  await Promise.all(fleet?.replicas.map((replica) => replica.process.stop()) ?? []);
  await Promise.allSettled(cleanup.map((stop) => stop()));
});

function need(t: TestContext): Fleet | undefined {
  if (!redisUrl(t)) return undefined;
  fleet!.balancer.pin(undefined);
  return fleet;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('two replicas behind a balancer', () => {
  test('every assertion verifies against the JWKS fetched through the balancer', async (t) => {
    const f = need(t);
    if (!f) return;
    const token = await f.idp.getToken({ clientId: 'ci-bot', scope: 'orders:read' });
    const served = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${f.balancer.origin}/api/orders/${i}`, { headers: bearer(token) });
      assert.equal(res.status, 200, await res.text());
      served.add(res.headers.get('x-test-replica')!);
    }
    assert.deepEqual([...served].sort(), ['0', '1']);
    assert.deepEqual(f.upstream.verdicts.filter((v) => !v.ok), []);
    assert.ok(f.upstream.verdicts.every((v) => v.kid === f.signingKid), 'the first configured key signs');
    const jwks = await Promise.all(
      [0, 1].map(async (i) => {
        f.balancer.pin(i);
        return (await fetch(`${f.balancer.origin}/.well-known/stepgate/jwks.json`)).json();
      }),
    );
    assert.deepEqual(jwks[0], jwks[1]);
  });

  test('a session made across both replicas works on each; logout on one ends it on both', async (t) => {
    const f = need(t);
    if (!f) return;
    const jar = new CookieJar();
    // Round robin: the login's steps (login, callback) land on alternating replicas.
    assert.equal((await login({ origin: f.balancer.origin }, jar, '/.stepgate/login?rd=/api/orders/1', ALICE)).status, 302);
    const orders = async (replica: number) => {
      f.balancer.pin(replica);
      const res = await jar.fetch(`${f.balancer.origin}/api/orders/1`, { headers: { accept: 'application/json' } });
      assert.equal(res.headers.get('x-test-replica'), String(replica));
      return res.status;
    };
    assert.equal(await orders(0), 200);
    assert.equal(await orders(1), 200);
    f.balancer.pin(1);
    const out = await jar.fetch(`${f.balancer.origin}/.stepgate/logout`, { method: 'POST', headers: { origin: f.balancer.origin } });
    assert.equal(out.status, 303);
    assert.equal(await orders(0), 401);
    assert.equal(await orders(1), 401);
  });

  test('rate limits are one budget across replicas', async (t) => {
    const f = need(t);
    if (!f) return;
    const token = await f.idp.getToken({ clientId: 'ci-bot', scope: 'orders:read' });
    const seen: [string, number, string | null][] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${f.balancer.origin}/api/limited`, { headers: bearer(token) });
      seen.push([res.headers.get('x-test-replica')!, res.status, res.headers.get('ratelimit-remaining')]);
    }
    assert.deepEqual(seen, [
      ['0', 200, '2'],
      ['1', 200, '1'],
      ['0', 200, '0'],
      ['1', 429, '0'],
      ['0', 429, '0'],
    ]);
  });

  test('an Idempotency-Key used on one replica is honoured by the other', async (t) => {
    const f = need(t);
    if (!f) return;
    const token = await f.idp.getToken({ clientId: 'ci-bot', scope: 'deploy:start' });
    const key = `k-${uniqueId()}`;
    const greetsBefore = f.sfn.greetCalls();
    const send = async (replica: number) => {
      f.balancer.pin(replica);
      const res = await fetch(`${f.balancer.origin}/workflows/check`, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ name: 'fleet' }),
      });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.text() };
    };
    const first = await send(0);
    const second = await send(1);
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(second, { ...first, replayed: 'true' });
    assert.equal(f.sfn.greetCalls(), greetsBefore + 1, 'the Express execution ran once');
  });

  test('SIGHUP on one replica reloads it alone; the other keeps serving undisturbed', async (t) => {
    const f = need(t);
    if (!f) return;
    const token = await f.idp.getToken({ clientId: 'ci-bot', scope: 'orders:read' });
    const statuses: number[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) statuses.push((await fetch(`${f.balancer.origin}/api/orders/load`, { headers: bearer(token) })).status);
    })();
    const [zero, one] = f.replicas as [Replica, Replica];
    const added = f.config.replace('routes:\n', 'routes:\n  - { name: added, path: /api/added, methods: [GET], target: orders, allow: { scopes: [orders:read] } }\n');
    assert.notEqual(added, f.config);
    await writeFile(zero.configFile, added);
    zero.process.child.kill('SIGHUP');
    const added200 = async (replica: number) => {
      f.balancer.pin(replica);
      return (await fetch(`${f.balancer.origin}/api/added`, { headers: bearer(token) })).status;
    };
    for (let i = 0; (await added200(0)) !== 200; i++) {
      if (i > 100) assert.fail(`replica 0 did not reload:\n${zero.process.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(await added200(1), 404, 'replica 1 kept its config');
    f.balancer.pin(undefined);
    loading = false;
    await load;
    assert.ok(statuses.length > 0);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'no request failed during the reload');
    const reloads = async (replica: Replica) =>
      (await (await fetch(`${replica.adminUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('stepgate_config_reloads_total{'));
    assert.ok((await reloads(zero)).some((l) => /result="ok"\} [1-9]/.test(l)));
    assert.deepEqual(await reloads(one), []);
    assert.equal(await readFile(one.configFile, 'utf8'), f.config);
  });
});
