/**
 * mode: sync (StartSyncExecution on an Express workflow): the output as a 200; a FAILED or
 * TIMED_OUT execution is a problem with its error and cause, never a 200; no SDK retry that
 * could run an Express execution twice; Idempotency-Key deduplicated in Redis (24 h).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, waitReady } from '../../support/gateway.ts';
import { redisUrl } from '../../support/services.ts';
import { auditOf, call, stepFunctionsConfig, uniqueId } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

const stack = withGateway({ sfn: true, config: ({ issuer, sfn }) => stepFunctionsConfig(issuer, sfn) });

const token = (sub = 'ci-bot') => stack.issuer.sign({ sub, scope: 'deploy:start' });
const checkExecutions = () => stack.sfn.executions('check').length;

describe('a sync Step Functions route', () => {
  it('answers 200 with the execution output', async () => {
    const { res, json } = await call(stack.gateway, '/workflows/check', {
      token: await token(),
      body: { name: 'stepgate' },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(json(), { greeting: 'hello stepgate', caller: 'ci-bot' });
    const { outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
    assert.match(outcome.target?.executionArn ?? '', /:express:check:/);
  });

  it('a FAILED execution is a 502 problem carrying its error and cause', async () => {
    const { res, json } = await call(stack.gateway, '/workflows/check', {
      token: await token(),
      body: { fail: true },
    });
    assert.equal(res.status, 502);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = json<Record<string, unknown>>();
    assert.equal(problem['code'], 'SG_ERR_EXECUTION_FAILED');
    assert.equal(problem['executionStatus'], 'FAILED');
    assert.equal(problem['error'], 'DeployFailed');
    assert.equal(problem['cause'], 'health check "db" failed\nline two');
    assert.match(String(problem['executionArn']), /:express:check:/);
    const { outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.decision, 'allow');
    assert.equal(outcome.reason, 'upstream_error');
    assert.equal(outcome.target?.error, 'DeployFailed');
  });

  it('a TIMED_OUT execution is a 504 problem', async () => {
    const { res, json } = await call(stack.gateway, '/workflows/check', {
      token: await token(),
      body: { sleep: true },
    });
    assert.equal(res.status, 504);
    const problem = json<Record<string, unknown>>();
    assert.equal(problem['code'], 'SG_ERR_EXECUTION_TIMED_OUT');
    assert.equal(problem['executionStatus'], 'TIMED_OUT');
    assert.equal(problem['error'], 'States.Timeout');
  });

  it('a 500 from StartSyncExecution is not retried: the Express execution ran once', async () => {
    const before = checkExecutions();
    stack.sfn.inject('StartSyncExecution', { kind: 'fail-after' });
    const { res } = await call(stack.gateway, '/workflows/check', { token: await token(), body: { name: 'once' } });
    assert.equal(res.status, 502);
    assert.equal(checkExecutions(), before + 1);
  });

  it('throttling is retried (nothing ran), and then it runs once', async () => {
    const before = checkExecutions();
    stack.sfn.inject('StartSyncExecution', { kind: 'throttle' });
    const { res } = await call(stack.gateway, '/workflows/check', {
      token: await token(),
      body: { name: 'throttled' },
    });
    assert.equal(res.status, 200);
    assert.equal(checkExecutions(), before + 1);
  });

  it('an Idempotency-Key without redis is refused: it could not be honoured', async () => {
    const before = checkExecutions();
    const { res, json } = await call(stack.gateway, '/workflows/check', {
      token: await token(),
      body: {},
      headers: { 'idempotency-key': 'k1' },
    });
    assert.equal(res.status, 400);
    assert.equal(json<{ code: string }>().code, 'SG_ERR_IDEMPOTENCY_UNSUPPORTED');
    assert.equal(checkExecutions(), before);
  });
});

describe('a sync route with redis', () => {
  it('deduplicates an Idempotency-Key: the same response, one execution; another body, 409', async (t) => {
    const url = redisUrl(t);
    if (!url) return;
    const prefix = `stepgate-test:${uniqueId()}:`;
    const withRedis = await startGateway(
      stepFunctionsConfig(stack.issuer, stack.sfn, { extra: { redis: { url, keyPrefix: prefix } } }),
    );
    try {
      await waitReady(withRedis);
      const key = `k-${uniqueId()}`;
      const greetsBefore = stack.sfn.greetCalls();
      const send = (body: unknown, sub = 'ci-bot') =>
        token(sub).then((t) =>
          call(withRedis, '/workflows/check', { token: t, body, headers: { 'idempotency-key': key } }),
        );
      const first = await send({ name: 'once' });
      assert.equal(first.res.status, 200);
      const second = await send({ name: 'once' });
      assert.equal(second.res.status, 200);
      assert.equal(second.text, first.text);
      assert.equal(second.res.headers.get('idempotent-replayed'), 'true');
      assert.equal(stack.sfn.greetCalls(), greetsBefore + 1, 'the Express execution ran once');
      const conflict = await send({ name: 'twice' });
      assert.equal(conflict.res.status, 409);
      assert.equal(conflict.json<{ code: string }>().code, 'SG_ERR_IDEMPOTENCY_CONFLICT');
      const other = await send({ name: 'once' }, 'someone-else');
      assert.equal(other.res.status, 200, 'keys are per caller');
      assert.equal(stack.sfn.greetCalls(), greetsBefore + 2);
      const replay = await auditOf(withRedis, second.res.headers.get('x-request-id')!);
      const original = await auditOf(withRedis, first.res.headers.get('x-request-id')!);
      assert.equal(replay.outcome.target?.executionArn, original.outcome.target?.executionArn);

      // A failure is the result for its key too: replayed, not run again.
      const failKey = `k-${uniqueId()}`;
      const runsBefore = checkExecutions();
      for (let i = 0; i < 2; i++) {
        const failed = await call(withRedis, '/workflows/check', {
          token: await token(),
          body: { fail: true },
          headers: { 'idempotency-key': failKey },
        });
        assert.equal(failed.res.status, 502);
        assert.equal(failed.json<{ error: string }>().error, 'DeployFailed');
      }
      assert.equal(checkExecutions(), runsBefore + 1);

      // Throttled past the retries: nothing ran, so the key is free for the retry.
      const throttledKey = `k-${uniqueId()}`;
      stack.sfn.inject('StartSyncExecution', { kind: 'throttle' }, 3);
      const throttled = await call(withRedis, '/workflows/check', {
        token: await token(),
        body: { name: 'later' },
        headers: { 'idempotency-key': throttledKey },
      });
      assert.equal(throttled.res.status, 503);
      const retried = await call(withRedis, '/workflows/check', {
        token: await token(),
        body: { name: 'later' },
        headers: { 'idempotency-key': throttledKey },
      });
      assert.equal(retried.res.status, 200);
    } finally {
      await withRedis.close();
    }
  });

  it('refuses to start when Redis is down: no store, no start', async () => {
    const down = await startGateway(
      stepFunctionsConfig(stack.issuer, stack.sfn, {
        extra: { redis: { url: 'redis://127.0.0.1:1', keyPrefix: `t:${uniqueId()}:` } },
      }),
    );
    try {
      await waitReady(down);
      const before = checkExecutions();
      const { res, json } = await call(down, '/workflows/check', {
        token: await token(),
        body: {},
        headers: { 'idempotency-key': 'k' },
      });
      assert.equal(res.status, 503);
      assert.equal(json<{ code: string }>().code, 'SG_ERR_IDEMPOTENCY_UNAVAILABLE');
      assert.equal(checkExecutions(), before);
      const noKey = await call(down, '/workflows/check', { token: await token(), body: {} });
      assert.equal(noKey.res.status, 200, 'without a key Redis is not needed');
    } finally {
      await down.close();
    }
  });
});
