/**
 * A 202's `statusUrl` never leads nowhere (issue 8, item 12). An async target without a GET
 * route of its own is read at `/executions/{arn}`, which the gateway serves (DESIGN.md): to the
 * caller who started the execution, while a route that starts executions still allows them; a
 * 404 for anyone else. When a configured route already owns `GET /executions/…`, the gateway
 * leaves it alone and the 202 carries no `statusUrl`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import {
  auditOf,
  call,
  startTestStepFunctions,
  type TestStepFunctions,
  useTestAwsCredentials,
} from '../../support/stepfunctions.ts';

useTestAwsCredentials();

let issuer: TestIssuer;
let sfn: TestStepFunctions;
let upstream: EchoUpstream;

before(async () => {
  issuer = await startIssuer();
  sfn = await startTestStepFunctions({
    stateMachines: [
      { name: 'deploy', definition: { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } } },
      { name: 'rollback', definition: { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } } },
    ],
  });
  upstream = await startEchoUpstream();
});

after(async () => {
  await sfn.close();
  await upstream.close();
  await issuer.close();
});

const sfnTarget = (machine: string) => ({
  type: 'stepfunctions',
  stateMachineArn: sfn.stateMachineArn(machine),
  region: sfn.region,
  endpoint: sfn.url,
  timeoutMs: 2000,
});

/** Two async targets, each started by a POST route, neither with a GET route. */
function config(extra: { routes?: unknown[]; server?: unknown } = {}) {
  return {
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
    targets: { deploy: sfnTarget('deploy'), rollback: sfnTarget('rollback'), echo: { type: 'http', url: upstream.url } },
    routes: [
      { name: 'deploy', path: '/workflows/deploy', methods: ['POST'], target: 'deploy', allow: { scopes: ['deploy'] } },
      { name: 'rollback', path: '/workflows/rollback', methods: ['POST'], target: 'rollback', allow: { scopes: ['rollback'] } },
      ...(extra.routes ?? []),
    ],
    ...(extra.server ? { server: extra.server } : {}),
  };
}

const token = (sub: string, scope: string) => issuer.sign({ sub, scope });

async function start(gateway: TestGateway, path: string, t: string) {
  const started = await call(gateway, path, { token: t, body: {} });
  assert.equal(started.res.status, 202, started.text);
  return { ...started.json<{ executionArn: string; statusUrl?: string }>(), location: started.res.headers.get('location') };
}

describe('statusUrl of an async target without a GET route', () => {
  let gateway: TestGateway;
  before(async () => {
    gateway = await startGateway(config());
    await waitReady(gateway);
  });
  after(() => gateway.close());

  it('is /executions/{arn}, and it answers the caller who started it', async () => {
    const alice = await token('alice', 'deploy rollback');
    for (const [path, machine] of [['/workflows/deploy', 'deploy'], ['/workflows/rollback', 'rollback']] as const) {
      const { executionArn, statusUrl, location } = await start(gateway, path, alice);
      assert.match(executionArn, new RegExp(`:execution:${machine}:`));
      assert.equal(statusUrl, `/executions/${executionArn}`);
      assert.equal(location, statusUrl);
      await sfn.finished(executionArn);
      const read = await call(gateway, statusUrl!, { token: alice });
      assert.equal(read.res.status, 200, read.text);
      assert.equal(read.json<{ executionArn: string; status: string }>().executionArn, executionArn);
      assert.equal(read.json<{ status: string }>().status, 'SUCCEEDED');
      const head = await fetch(gateway.url + statusUrl!, { method: 'HEAD', headers: { authorization: `Bearer ${alice}` } });
      assert.equal(head.status, 200);
      const { outcome } = await auditOf(gateway, read.res.headers.get('x-request-id')!);
      assert.equal(outcome.http.route, 'stepgate:executions');
      assert.equal(outcome.target?.executionArn, executionArn);
    }
  });

  it('is a 404 for another caller, a 403 without the start permission, a 401 without a token', async () => {
    const { executionArn, statusUrl } = await start(gateway, '/workflows/deploy', await token('alice', 'deploy'));
    const describes = () => sfn.calls.filter((c) => c.operation === 'DescribeExecution').length;
    const before = describes();
    const bob = await call(gateway, statusUrl!, { token: await token('bob', 'deploy') });
    assert.equal(bob.res.status, 404);
    assert.equal(bob.json<{ code: string }>().code, 'SG_ERR_EXECUTION_NOT_FOUND');
    const revoked = await call(gateway, statusUrl!, { token: await token('alice', 'rollback-only') });
    assert.equal(revoked.res.status, 403);
    const anonymous = await call(gateway, statusUrl!);
    assert.equal(anonymous.res.status, 401);
    const elsewhere = await call(gateway, `/executions/${executionArn.replace(':deploy:', ':other:')}`, {
      token: await token('alice', 'deploy'),
    });
    assert.equal(elsewhere.res.status, 404, 'an ARN of a state machine no target runs');
    assert.equal(describes(), before, 'AWS was not asked for anyone but the owner');
  });
});

describe('when a configured route owns GET /executions/…', () => {
  it('the gateway does not claim it, and the 202 has no statusUrl', async () => {
    const gateway = await startGateway(
      config({ routes: [{ name: 'site', path: '/*', methods: ['GET'], target: 'echo', public: true }] }),
    );
    try {
      await waitReady(gateway);
      const started = await call(gateway, '/workflows/deploy', { token: await token('alice', 'deploy'), body: {} });
      assert.equal(started.res.status, 202);
      assert.deepEqual(Object.keys(started.json()).sort(), ['executionArn', 'startDate']);
      assert.equal(started.res.headers.get('location'), null);
      const echoed = await call(gateway, `/executions/${started.json<{ executionArn: string }>().executionArn}`);
      assert.equal(echoed.res.status, 200, 'the configured route still answers');
    } finally {
      await gateway.close();
    }
  });
});

describe('with a GET route of its own', () => {
  it('the statusUrl is that route’s, absolute with publicUrl', async () => {
    const gateway = await startGateway(
      config({
        server: { publicUrl: 'https://gw.example.com' },
        routes: [{ name: 'runs', path: '/runs/:arn', methods: ['GET'], target: 'deploy', allow: { scopes: ['deploy'] } }],
      }),
    );
    try {
      await waitReady(gateway);
      const deploy = await start(gateway, '/workflows/deploy', await token('alice', 'deploy rollback'));
      assert.equal(deploy.statusUrl, `https://gw.example.com/runs/${deploy.executionArn}`);
      const rollback = await start(gateway, '/workflows/rollback', await token('alice', 'deploy rollback'));
      assert.equal(rollback.statusUrl, `https://gw.example.com/executions/${rollback.executionArn}`);
    } finally {
      await gateway.close();
    }
  });
});
