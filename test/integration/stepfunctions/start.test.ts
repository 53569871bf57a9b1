/**
 * Starting executions through the gateway, against the local Step Functions endpoint over real
 * sockets: the 202, the envelope an execution receives, hostile claims staying data, bodies
 * refused before AWS is called, the trace header, and the audit records around the call.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { auditOf, call, stepFunctionsConfig } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

let bodyGateway: TestGateway;
const stack = withGateway({
  sfn: true,
  config: ({ issuer, sfn }) => stepFunctionsConfig(issuer, sfn),
  setup: async () => {
    bodyGateway = await stack.startGateway(
      stepFunctionsConfig(stack.issuer, stack.sfn, {
        deploy: { input: 'body' },
        extra: { server: { publicUrl: 'https://gw.example.com' } },
      }),
    );
  },
});

const token = (claims: Record<string, unknown> = {}) =>
  stack.issuer.sign({ sub: 'ci-bot', scope: 'deploy:start', email: 'bot@example.com', ...claims });

function startCalls(): number {
  return stack.sfn.calls.filter((c) => c.operation === 'StartExecution').length;
}

describe('POST to an async Step Functions route', () => {
  it('answers 202 with the execution ARN, its start date and a status URL', async () => {
    const { res, json } = await call(stack.gateway, '/workflows/deploy', {
      token: await token(),
      body: { version: '1.2.3' },
    });
    assert.equal(res.status, 202);
    const body = json<{ executionArn: string; startDate: string; statusUrl: string }>();
    assert.match(
      body.executionArn,
      /^arn:aws:states:us-east-1:123456789012:execution:deploy:[a-z2-7]{26}-r[0-9a-f]{32}$/,
    );
    assert.ok(!Number.isNaN(Date.parse(body.startDate)));
    assert.equal(body.statusUrl, `/executions/${body.executionArn}`);
    assert.equal(res.headers.get('location'), body.statusUrl);
    const execution = await stack.sfn.finished(body.executionArn);
    assert.equal(execution.status, 'SUCCEEDED');
    assert.equal(JSON.parse(execution.output!).deployment.version, '1.2.3');
  });

  it('gives the execution the envelope: body, verified caller, request', async () => {
    const t = await token({
      roles: ['deployer'],
      groups: ['platform'],
      repository: 'acme/app',
      client_id: 'ci',
    });
    const { res, json } = await call(stack.gateway, '/workflows/deploy?ignored=1', {
      token: t,
      body: { version: '2.0.0', nested: { list: [1, 2, 3] } },
    });
    assert.equal(res.status, 202);
    const execution = await stack.sfn.finished(json<{ executionArn: string }>().executionArn);
    const input = JSON.parse(execution.input) as {
      body: unknown;
      caller: {
        issuer: string;
        sub: string;
        clientId: string;
        scopes: string[];
        roles: string[];
        groups: string[];
        claims: Record<string, unknown>;
      };
      request: { id: string; method: string; path: string; receivedAt: string };
    };
    assert.deepEqual(Object.keys(input), ['body', 'caller', 'request']);
    assert.deepEqual(input.body, { version: '2.0.0', nested: { list: [1, 2, 3] } });
    assert.equal(input.caller.issuer, 'ci');
    assert.equal(input.caller.sub, 'ci-bot');
    assert.equal(input.caller.clientId, 'ci');
    assert.deepEqual(input.caller.scopes, ['deploy:start']);
    assert.deepEqual(input.caller.roles, ['deployer']);
    assert.deepEqual(input.caller.groups, ['platform']);
    assert.equal(input.caller.claims.repository, 'acme/app');
    assert.equal(input.caller.claims.iss, stack.issuer.issuer);
    assert.equal(input.request.id, res.headers.get('x-request-id'));
    assert.equal(input.request.method, 'POST');
    assert.equal(input.request.path, '/workflows/deploy');
    assert.ok(!Number.isNaN(Date.parse(input.request.receivedAt)));
    assert.ok(!execution.input.includes(t), 'the token is never part of the input');
  });

  it('sends no body as null in the envelope', async () => {
    const { res, json } = await call(stack.gateway, '/workflows/deploy', { method: 'POST', token: await token() });
    assert.equal(res.status, 202);
    const execution = await stack.sfn.finished(json<{ executionArn: string }>().executionArn);
    assert.equal(JSON.parse(execution.input).body, null);
  });

  it('with input: body, gives the execution exactly the request JSON; statusUrl uses publicUrl', async () => {
    const { res, json } = await call(bodyGateway, '/workflows/deploy', {
      token: await token(),
      body: { a: 1 },
    });
    assert.equal(res.status, 202);
    const { executionArn, statusUrl } = json<{ executionArn: string; statusUrl: string }>();
    assert.equal(statusUrl, `https://gw.example.com/executions/${executionArn}`);
    assert.equal((await stack.sfn.finished(executionArn)).input, '{"a":1}');
  });

  it('keeps hostile claim values as data: the input is always valid JSON', async () => {
    const hostile = 'a"b\\c\nd\re\u0000f\u2028g\u2029h</script>{"x":1}\ud800';
    const t = await token({ repository: hostile, email: hostile, 'odd"key\n': hostile });
    const { res, json } = await call(stack.gateway, '/workflows/deploy', { token: t, body: { note: hostile } });
    assert.equal(res.status, 202);
    const execution = await stack.sfn.finished(json<{ executionArn: string }>().executionArn);
    const input = JSON.parse(execution.input);
    assert.equal(input.caller.claims.repository, hostile);
    assert.equal(input.caller.claims['odd"key\n'], input.caller.claims.repository);
    assert.equal(input.body.note, input.caller.claims.repository);
    assert.equal(execution.status, 'SUCCEEDED');
  });

  it('lets the request choose nothing about the state machine', async () => {
    const before = stack.sfn.executions('check').length;
    const { res, json } = await call(
      stack.gateway,
      '/workflows/deploy?stateMachineArn=' + stack.sfn.stateMachineArn('check'),
      {
        token: await token(),
        body: { stateMachineArn: stack.sfn.stateMachineArn('check'), name: 'chosen' },
        headers: { 'x-amz-target': 'AWSStepFunctions.StartSyncExecution', 'idempotency-key': 'k-choose' },
      },
    );
    assert.equal(res.status, 202);
    assert.match(json<{ executionArn: string }>().executionArn, /:execution:deploy:/);
    assert.doesNotMatch(json<{ executionArn: string }>().executionArn, /chosen/);
    assert.equal(stack.sfn.executions('check').length, before);
  });

  it('passes traceparent as the X-Ray trace header, else X-Amzn-Trace-Id', async () => {
    const first = await call(stack.gateway, '/workflows/deploy', {
      token: await token(),
      body: {},
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    const e1 = await stack.sfn.finished(first.json<{ executionArn: string }>().executionArn);
    assert.equal(
      e1.traceHeader,
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
    );
    const amzn = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0';
    const second = await call(stack.gateway, '/workflows/deploy', {
      token: await token(),
      body: {},
      headers: { 'x-amzn-trace-id': amzn },
    });
    assert.equal(
      (await stack.sfn.finished(second.json<{ executionArn: string }>().executionArn)).traceHeader,
      amzn,
    );
    const junk = await call(stack.gateway, '/workflows/deploy', {
      token: await token(),
      body: {},
      headers: { traceparent: 'nonsense', 'x-amzn-trace-id': 'Root=bad' },
    });
    assert.equal(junk.res.status, 202, 'a malformed trace context never refuses a request');
    assert.equal(
      (await stack.sfn.finished(junk.json<{ executionArn: string }>().executionArn)).traceHeader,
      undefined,
    );
  });
});

describe('bodies refused before AWS is called', () => {
  const cases: [string, { body: string | Uint8Array; type?: string }, number, string][] = [
    [
      'a form body',
      { body: 'a=1', type: 'application/x-www-form-urlencoded' },
      415,
      'SG_ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['a body without a content type', { body: '{"a":1}' }, 415, 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['text/plain JSON', { body: '{"a":1}', type: 'text/plain' }, 415, 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    [
      'a latin-1 charset',
      { body: '{"a":1}', type: 'application/json; charset=iso-8859-1' },
      415,
      'SG_ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['broken JSON', { body: '{"a":', type: 'application/json' }, 400, 'SG_ERR_INVALID_JSON'],
    [
      'invalid UTF-8',
      { body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), type: 'application/json' },
      400,
      'SG_ERR_INVALID_JSON',
    ],
    [
      'an input over 256 KiB',
      { body: JSON.stringify({ pad: 'x'.repeat(262_144) }), type: 'application/json' },
      413,
      'SG_ERR_INPUT_TOO_LARGE',
    ],
  ];
  for (const [what, { body, type }, status, code] of cases) {
    it(`${what}: ${status} ${code}`, async () => {
      const calls = startCalls();
      const { res, json } = await call(stack.gateway, '/workflows/deploy', {
        method: 'POST',
        token: await token(),
        body,
        headers: type ? { 'content-type': type } : {},
      });
      assert.equal(res.status, status);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(json<{ code: string }>().code, code);
      assert.equal(startCalls(), calls, 'AWS was not called');
    });
  }

  it('takes application/*+json and a UTF-8 charset', async () => {
    for (const type of ['application/vnd.acme.deploy+json', 'application/json; charset=UTF-8']) {
      const { res } = await call(stack.gateway, '/workflows/deploy', {
        token: await token(),
        body: '{"a":1}',
        headers: { 'content-type': type },
      });
      assert.equal(res.status, 202, type);
    }
  });

  it('counts the envelope towards the 256 KiB, not only the body', async () => {
    // The body alone fits (as `input: body` shows); with the caller and request it does not.
    const body = { pad: 'x'.repeat(262_144 - 200) };
    const t = await token({ blob: 'y'.repeat(2000) });
    const alone = await call(bodyGateway, '/workflows/deploy', { token: t, body });
    assert.equal(alone.res.status, 202);
    const { res, json } = await call(stack.gateway, '/workflows/deploy', { token: t, body });
    assert.equal(res.status, 413);
    assert.equal(json<{ code: string }>().code, 'SG_ERR_INPUT_TOO_LARGE');
  });
});

describe('the audit log around a start', () => {
  it('writes an intent before the call and the outcome after, both naming the caller and the execution', async () => {
    const { res, json } = await call(stack.gateway, '/workflows/deploy', {
      token: await token({ repository: 'acme/app' }),
      body: {},
      headers: { 'idempotency-key': 'audit-1' },
    });
    assert.equal(res.status, 202);
    const { executionArn } = json<{ executionArn: string }>();
    const requestId = res.headers.get('x-request-id')!;
    const { intent, outcome } = await auditOf(stack.gateway, requestId);
    assert.ok(intent, 'an intent record exists');
    assert.equal(intent.phase, 'intent');
    assert.equal(intent.status, 0);
    assert.equal(intent.caller?.sub, 'ci-bot');
    assert.equal(intent.target?.executionName, executionArn.split(':').pop());
    assert.equal(outcome.status, 202);
    assert.equal(outcome.decision, 'allow');
    assert.equal(outcome.caller?.sub, 'ci-bot');
    assert.equal(outcome.caller?.claims['repository'], 'acme/app');
    assert.deepEqual(outcome.target, {
      name: 'deploy',
      type: 'stepfunctions',
      executionArn,
      executionName: executionArn.split(':').pop(),
    });
    const lines = stack.gateway.audit.text().split('\n');
    const intentLine = lines.findIndex((l) => l.includes(requestId) && l.includes('"phase":"intent"'));
    const outcomeLine = lines.findIndex((l) => l.includes(requestId) && !l.includes('"phase":"intent"'));
    assert.ok(intentLine >= 0 && intentLine < outcomeLine, 'the intent is written first');
  });

  it('names the caller in every execution record of the log', async () => {
    const records = (await stack.gateway.auditRecords()).filter(
      (r) => r.target?.type === 'stepfunctions' && r.target.executionArn,
    );
    assert.ok(records.length > 5);
    for (const record of records) assert.equal(record.caller?.sub, 'ci-bot');
  });

  it('refuses the start (503) when the intent record cannot be written: no unaudited execution', async () => {
    // /dev/full opens, then fails every write: the durable intent write is the first to fail.
    const full = await startGateway({
      ...stepFunctionsConfig(stack.issuer, stack.sfn),
      audit: { sinks: [{ type: 'stdout' }, { type: 'file', path: '/dev/full' }] },
    });
    try {
      await waitReady(full).catch(() => undefined);
      const calls = startCalls();
      const { res, json } = await call(full, '/workflows/deploy', { token: await token(), body: {} });
      assert.equal(res.status, 503);
      assert.equal(json<{ code: string }>().code, 'SG_ERR_AUDIT_UNAVAILABLE');
      assert.equal(startCalls(), calls, 'AWS was not called');
    } finally {
      await full.close();
    }
  });
});
