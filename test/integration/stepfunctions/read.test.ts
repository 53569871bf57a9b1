/**
 * GET /executions/{arn}: answered for the caller who started the execution, or for a caller the
 * route's `readAnyExecution` allows; everyone else gets the 404 a missing execution gets, and
 * AWS is not asked on their behalf.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer } from '../../support/issuer.ts';
import { auditOf, call, stepFunctionsConfig } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

let started: { executionArn: string; statusUrl: string };
const stack = withGateway({
  sfn: true,
  config: ({ issuer, sfn }) => stepFunctionsConfig(issuer, sfn),
  setup: async () => {
    const res = await call(stack.gateway, '/workflows/deploy', { token: await alice(), body: { version: '9' } });
    assert.equal(res.res.status, 202);
    started = res.json();
    await stack.sfn.finished(started.executionArn);
  },
});

const alice = (claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub: 'alice', scope: 'deploy:start', ...claims });
const bob = (claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub: 'bob', scope: 'deploy:start', ...claims });

const describeCalls = () => stack.sfn.calls.filter((c) => c.operation === 'DescribeExecution').length;

describe('reading an execution', () => {
  it('the caller who started it reads its status and output at statusUrl', async () => {
    const { res, json } = await call(stack.gateway, started.statusUrl, { token: await alice() });
    assert.equal(res.status, 200);
    const body = json<{
      executionArn: string;
      status: string;
      output: { deployment: { version: string } };
      startDate?: string;
      stopDate?: string;
      input?: unknown;
    }>();
    assert.equal(body.executionArn, started.executionArn);
    assert.equal(body.status, 'SUCCEEDED');
    assert.equal(body.output.deployment.version, '9');
    assert.ok(body.startDate && body.stopDate);
    assert.equal(body.input, undefined, 'the input (with the caller envelope) is not shown');
    const { outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.target?.executionArn, started.executionArn);
    assert.equal(outcome.caller?.sub, 'alice');
  });

  it('takes the ARN percent-encoded too, and HEAD', async () => {
    const encoded = `/executions/${encodeURIComponent(started.executionArn)}`;
    assert.equal((await call(stack.gateway, encoded, { token: await alice() })).res.status, 200);
    const head = await fetch(stack.gateway.url + started.statusUrl, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${await alice()}` },
    });
    assert.equal(head.status, 200);
  });

  it('another caller gets 404, the same answer as for no execution, and AWS is not asked', async () => {
    const before = describeCalls();
    const theirs = await call(stack.gateway, started.statusUrl, { token: await bob() });
    const missing = await call(stack.gateway, `/executions/${started.executionArn.replace(/:[^:]+$/, ':nope')}`, {
      token: await bob(),
    });
    assert.equal(theirs.res.status, 404);
    assert.equal(missing.res.status, 404);
    const strip = (p: Record<string, unknown>) => ({ ...p, requestId: undefined });
    assert.deepEqual(strip(theirs.json()), strip(missing.json()));
    assert.equal(theirs.json<{ code: string }>().code, 'SG_ERR_EXECUTION_NOT_FOUND');
    assert.equal(describeCalls(), before);
    const { outcome } = await auditOf(stack.gateway, theirs.res.headers.get('x-request-id')!);
    assert.equal(outcome.decision, 'deny');
    assert.equal(outcome.reason, 'not_found');
    assert.equal(outcome.target?.error, 'not_owner');
    assert.equal(outcome.target?.executionArn, started.executionArn);
  });

  it('the same subject from another issuer is another caller', async () => {
    const other = await startIssuer();
    const doc = stepFunctionsConfig(stack.issuer, stack.sfn) as { issuers: unknown[] };
    doc.issuers.push({
      name: 'other',
      issuer: other.issuer,
      audiences: ['stepgate'],
      jwksUri: other.jwksUri,
    });
    const two = await startGateway(doc);
    try {
      await waitReady(two);
      const t = await other.sign({ sub: 'alice', scope: 'deploy:start' });
      assert.equal((await call(two, started.statusUrl, { token: t })).res.status, 404);
      assert.equal((await call(two, started.statusUrl, { token: await alice() })).res.status, 200);
    } finally {
      await two.close();
      await other.close();
    }
  });

  it('a caller that readAnyExecution allows reads every execution of the target', async () => {
    const { res, json } = await call(stack.gateway, started.statusUrl, {
      token: await bob({ roles: ['auditor'], scope: 'deploy:read' }),
    });
    assert.equal(res.status, 200);
    assert.equal(json<{ executionArn: string }>().executionArn, started.executionArn);
  });

  it('the route policy still applies first: no scope, 403', async () => {
    const { res } = await call(stack.gateway, started.statusUrl, {
      token: await stack.issuer.sign({ sub: 'alice', scope: 'other' }),
    });
    assert.equal(res.status, 403);
  });

  it('an execution of another state machine is not this route’s: 404, even for an auditor', async () => {
    const arn = started.executionArn.replace(':execution:deploy:', ':execution:check:');
    const { res } = await call(stack.gateway, `/executions/${arn}`, { token: await bob({ roles: ['auditor'] }) });
    assert.equal(res.status, 404);
  });

  it("the caller's own execution that does not exist: 404 from DescribeExecution", async () => {
    const arn = started.executionArn.replace(/-r[0-9a-f]+$/, '-rdeadbeef');
    const before = describeCalls();
    const { res, json } = await call(stack.gateway, `/executions/${arn}`, { token: await alice() });
    assert.equal(res.status, 404);
    assert.equal(json<{ code: string }>().code, 'SG_ERR_EXECUTION_NOT_FOUND');
    assert.equal(describeCalls(), before + 1);
  });

  const malformed = ['not-an-arn', 'arn:aws:states:us-east-1:123456789012:express:deploy:x:y', '%ZZ'];
  for (const arn of malformed) {
    it(`a malformed ARN (${arn}) is a 404`, async () => {
      const { res } = await call(stack.gateway, `/executions/${arn}`, { token: await alice() });
      assert.ok(res.status === 404 || res.status === 400, String(res.status));
    });
  }

  it('a running execution reads as RUNNING', async () => {
    const run = await call(stack.gateway, '/workflows/deploy', { token: await alice(), body: { waitSeconds: 2 } });
    const { res, json } = await call(stack.gateway, run.json<{ statusUrl: string }>().statusUrl, {
      token: await alice(),
    });
    assert.equal(res.status, 200);
    assert.equal(json<{ status: string }>().status, 'RUNNING');
  });

  it('a failed execution shows its error and cause', async () => {
    const run = await call(stack.gateway, '/workflows/deploy', { token: await alice(), body: { fail: true } });
    await stack.sfn.finished(run.json<{ executionArn: string }>().executionArn);
    const { json } = await call(stack.gateway, run.json<{ statusUrl: string }>().statusUrl, {
      token: await alice(),
    });
    const { status, error, cause } = json<{ status: string; error: string; cause: string }>();
    assert.deepEqual(
      { status, error, cause },
      { status: 'FAILED', error: 'DeployFailed', cause: 'the deployment failed its checks' },
    );
  });
});
