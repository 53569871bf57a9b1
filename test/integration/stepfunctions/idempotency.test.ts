/**
 * A retried request never starts a second execution: every Idempotency-Key case, and the AWS
 * failures around a start (throttling retried, a 500 after the execution was created), against
 * the local endpoint, which keeps executions by name as AWS does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rawRequest } from '../../support/raw-http.ts';
import { auditOf, call, stepFunctionsConfig, uniqueId } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

const stack = withGateway({
  sfn: true,
  config: ({ issuer, sfn }) => stepFunctionsConfig(issuer, sfn, { deploy: { timeoutMs: 700 } }),
});

const token = (sub = 'ci-bot', claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub, scope: 'deploy:start', ...claims });

interface Started {
  executionArn: string;
  startDate: string;
}

async function deploy(key: string | undefined, body: unknown, options: { sub?: string; path?: string } = {}) {
  return call(stack.gateway, options.path ?? '/workflows/deploy', {
    token: await token(options.sub),
    body,
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
}

const executionsNamed = (arn: string) =>
  stack.sfn.executions('deploy').filter((e) => e.executionArn === arn).length;

describe('Idempotency-Key', () => {
  it('same key and body while running: the same execution, started once', async () => {
    const key = `k-${uniqueId()}`;
    const first = await deploy(key, { version: '1', waitSeconds: 1 });
    assert.equal(first.res.status, 202);
    const second = await deploy(key, { waitSeconds: 1, version: '1' });
    assert.equal(second.res.status, 202);
    assert.equal(second.res.headers.get('idempotent-replayed'), 'true');
    assert.equal(second.json<Started>().executionArn, first.json<Started>().executionArn);
    assert.equal(second.json<Started>().startDate, first.json<Started>().startDate);
    assert.equal(executionsNamed(first.json<Started>().executionArn), 1);
    assert.equal(stack.sfn.deployInputs.filter((i) => JSON.stringify(i).includes('"waitSeconds":1')).length, 1);
  });

  it('same key and body after the execution finished: still the same execution', async () => {
    const key = `k-${uniqueId()}`;
    const first = await deploy(key, { version: '2' });
    const arn = first.json<Started>().executionArn;
    assert.equal((await stack.sfn.finished(arn)).status, 'SUCCEEDED');
    const again = await deploy(`  ${key} `, { version: '2' });
    assert.equal(again.res.status, 202);
    assert.equal(again.json<Started>().executionArn, arn);
    assert.equal(executionsNamed(arn), 1);
  });

  it('same key, another body: 409, and the first execution stands alone', async () => {
    const key = `k-${uniqueId()}`;
    const first = await deploy(key, { version: '3' });
    const arn = first.json<Started>().executionArn;
    const conflict = await deploy(key, { version: '4' });
    assert.equal(conflict.res.status, 409);
    assert.equal(conflict.json<{ code: string }>().code, 'SG_ERR_IDEMPOTENCY_CONFLICT');
    assert.equal(executionsNamed(arn), 1);
    const { outcome } = await auditOf(stack.gateway, conflict.res.headers.get('x-request-id')!);
    assert.equal(outcome.status, 409);
    assert.equal(outcome.target?.executionArn, arn);
    assert.equal(outcome.target?.error, 'ExecutionAlreadyExists');
  });

  it('a quoted structured-field key is the same key as the bare one', async () => {
    const key = `k-${uniqueId()}`;
    const first = await deploy(key, {});
    const quoted = await deploy(`"${key}"`, {});
    assert.equal(quoted.json<Started>().executionArn, first.json<Started>().executionArn);
  });

  it('is scoped to the caller: another subject with the same key gets its own execution', async () => {
    const key = `k-${uniqueId()}`;
    const mine = await deploy(key, { version: '5' }, { sub: 'alice' });
    const theirs = await deploy(key, { version: '5' }, { sub: 'bob' });
    assert.equal(theirs.res.status, 202);
    assert.notEqual(theirs.json<Started>().executionArn, mine.json<Started>().executionArn);
    const other = await deploy(key, { version: '6' }, { sub: 'bob' });
    assert.equal(other.res.status, 409, "bob's key is bob's, not alice's");
  });

  it('is scoped to the route: the same key on another route is another execution', async () => {
    const key = `k-${uniqueId()}`;
    const a = await deploy(key, {});
    const b = await deploy(key, {}, { path: '/workflows/deploy-again' });
    assert.equal(b.res.status, 202);
    assert.notEqual(b.json<Started>().executionArn, a.json<Started>().executionArn);
  });

  it('without a key every request is its own execution, named for its request id', async () => {
    const a = await deploy(undefined, { same: true });
    const b = await deploy(undefined, { same: true });
    assert.notEqual(a.json<Started>().executionArn, b.json<Started>().executionArn);
    assert.ok(
      a.json<Started>().executionArn.endsWith(`-r${a.res.headers.get('x-request-id')!.replaceAll('-', '')}`),
    );
  });

  it('hashes any key into a name of at most 80 characters of the Express alphabet', async () => {
    const keys = ['x', 'ключ', 'a:b/c d', '{"json":1}', 'k'.repeat(255), "'; DROP TABLE executions; --"];
    for (const key of keys.filter((k) => /^[\x20-\x7e]+$/.test(k))) {
      const { res, json } = await deploy(key, {});
      assert.equal(res.status, 202, key);
      const name = json<Started>().executionArn.split(':').pop()!;
      assert.ok(name.length <= 80 && /^[0-9A-Za-z_-]+$/.test(name), name);
    }
  });

  const unusable: [string, string][] = [
    ['an empty key', ''],
    ['a key over 255 characters', 'k'.repeat(256)],
    ['a broken quoted string', '"abc'],
    ['non-ASCII', 'clé'],
  ];
  for (const [what, key] of unusable) {
    it(`refuses ${what} with 400 before AWS is called`, async () => {
      const before = stack.sfn.calls.length;
      // Raw bytes: fetch would be free to refuse or re-encode a value before it is sent.
      const res = await rawRequest(
        stack.gateway.url,
        [
          'POST /workflows/deploy HTTP/1.1',
          `Host: ${new URL(stack.gateway.url).host}`,
          `Authorization: Bearer ${await token()}`,
          'Content-Type: application/json',
          `Idempotency-Key: ${key}`,
          'Content-Length: 2',
          'Connection: close',
          '',
          '{}',
        ].join('\r\n'),
      );
      assert.equal(res.status, 400, res.raw);
      assert.equal(JSON.parse(res.body).code, 'SG_ERR_BAD_IDEMPOTENCY_KEY');
      assert.equal(stack.sfn.calls.length, before);
    });
  }

  it('refuses two Idempotency-Key header lines', async () => {
    const host = new URL(stack.gateway.url).host;
    const res = await rawRequest(
      stack.gateway.url,
      [
        'POST /workflows/deploy HTTP/1.1',
        `Host: ${host}`,
        `Authorization: Bearer ${await token()}`,
        'Content-Type: application/json',
        'Idempotency-Key: one',
        'Idempotency-Key: two',
        'Content-Length: 2',
        'Connection: close',
        '',
        '{}',
      ].join('\r\n'),
    );
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.body).code, 'SG_ERR_BAD_IDEMPOTENCY_KEY');
  });
});

describe('AWS failures around a start', () => {
  it('a throttled call is retried by the SDK and starts exactly one execution', async () => {
    const key = `k-${uniqueId()}`;
    stack.sfn.inject('StartExecution', { kind: 'throttle' }, 2);
    const { res, json } = await deploy(key, { version: 'throttled' });
    assert.equal(res.status, 202);
    const arn = json<Started>().executionArn;
    assert.equal(executionsNamed(arn), 1);
    const attempts = stack.sfn.calls.filter(
      (c) => c.operation === 'StartExecution' && c.principal && c.fault === 'throttle',
    );
    assert.ok(attempts.length >= 2);
  });

  it('a 500 after the execution was created still yields one execution and its ARN', async () => {
    const key = `k-${uniqueId()}`;
    stack.sfn.inject('StartExecution', { kind: 'fail-after' });
    const { res, json } = await deploy(key, { version: 'fail-after' });
    assert.equal(res.status, 202);
    const arn = json<Started>().executionArn;
    assert.equal(executionsNamed(arn), 1);
    assert.equal(stack.sfn.executions('deploy').filter((e) => e.input.includes('"fail-after"')).length, 1);
  });

  it('a 500 after the execution was created, without a key: still one execution', async () => {
    stack.sfn.inject('StartExecution', { kind: 'fail-after' });
    const marker = uniqueId();
    const { res } = await deploy(undefined, { marker });
    assert.equal(res.status, 202);
    assert.equal(stack.sfn.executions('deploy').filter((e) => e.input.includes(marker)).length, 1);
  });

  it('throttling past the retries: 503 with Retry-After, audited with the AWS code', async () => {
    stack.sfn.inject('StartExecution', { kind: 'throttle' }, 3);
    const { res, json } = await deploy(undefined, {});
    assert.equal(res.status, 503);
    assert.equal(json<{ code: string }>().code, 'SG_ERR_AWS_BUSY');
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    const { intent, outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
    assert.ok(intent);
    assert.equal(outcome.reason, 'upstream_error');
    assert.equal(outcome.target?.error, 'ThrottlingException');
    assert.ok(outcome.target?.executionName);
  });

  const mapped: [string, string, number, string][] = [
    ['ExecutionLimitExceeded', 'ExecutionLimitExceeded', 503, 'SG_ERR_AWS_BUSY'],
    ['AccessDeniedException', 'AccessDeniedException', 502, 'SG_ERR_AWS_ACCESS_DENIED'],
    ['StateMachineDoesNotExist', 'StateMachineDoesNotExist', 502, 'SG_ERR_AWS_STATE_MACHINE'],
  ];
  for (const [what, code, status, gatewayCode] of mapped) {
    it(`${what}: ${status}`, async () => {
      stack.sfn.inject('StartExecution', { kind: 'error', code });
      const { res, json } = await deploy(undefined, {});
      assert.equal(res.status, status);
      assert.equal(json<{ code: string }>().code, gatewayCode);
      if (status === 503) assert.ok(res.headers.get('retry-after'));
      const { outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
      assert.equal(outcome.target?.error, code);
    });
  }

  it('a real ExecutionLimitExceeded from the endpoint: 503', async () => {
    stack.sfn.setMaxRunning(0);
    try {
      const { res } = await deploy(undefined, {});
      assert.equal(res.status, 503);
    } finally {
      stack.sfn.setMaxRunning(Number.POSITIVE_INFINITY);
    }
  });

  it('no answer in time: 504 after the SDK gave up, audited', async () => {
    stack.sfn.inject('StartExecution', { kind: 'hang' }, 3);
    const { res, json } = await deploy(undefined, {});
    assert.equal(res.status, 504);
    assert.equal(json<{ code: string }>().code, 'SG_ERR_AWS_TIMEOUT');
    const { outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.target?.error, 'TimeoutError');
  });

  it('counts executions by result on the admin port', async () => {
    const metrics = await (await fetch(`${stack.gateway.adminUrl}/metrics`)).text();
    for (const result of ['started', 'replayed', 'conflict', 'error']) {
      assert.match(
        metrics,
        new RegExp(`^stepgate_executions_total\\{target="deploy",result="${result}"\\} [1-9]`, 'm'),
      );
    }
    assert.match(metrics, /^stepgate_upstream_duration_seconds_count\{target="deploy"\} [1-9]/m);
  });
});
