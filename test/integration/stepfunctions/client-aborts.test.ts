/**
 * A client that resets the connection while its Step Functions request is under way: the
 * durable intent record, then exactly one outcome record saying `client_aborted`, whether the
 * execution was started, and which one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '../../support/gateway.ts';
import { postThenReset } from '../../support/raw-http.ts';
import { stepFunctionsConfig } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

const stack = withGateway({ sfn: true, config: ({ issuer, sfn }) => stepFunctionsConfig(issuer, sfn) });

/** Posts `body` to `path` as ci-bot, resets the connection once the intent record is written. */
async function postAndReset(path: string, body: string): Promise<string> {
  return postThenReset(stack.gateway, path, await stack.issuer.sign({ sub: 'ci-bot', scope: 'deploy:start' }), body);
}

async function recordsOf(requestId: string) {
  await eventually(
    async () => (await stack.gateway.auditRecords()).some((r) => r.requestId === requestId && r.phase !== 'intent'),
    'the outcome record',
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  return (await stack.gateway.auditRecords()).filter((r) => r.requestId === requestId);
}

describe('a Step Functions request whose client resets', () => {
  it('while StartExecution runs: the execution starts, and its outcome is recorded once as client_aborted', async () => {
    const counted = await stack.gateway.requestsCounted({ route: 'deploy', reason: 'client_aborted' });
    stack.sfn.inject('StartExecution', { kind: 'delay', ms: 500 });
    const requestId = await postAndReset('/workflows/deploy', '{"version":"9.9.9"}');
    const records = await recordsOf(requestId);
    assert.equal(records.length, 2, 'the intent and one outcome');
    const [intent, outcome] = records;
    assert.equal(intent!.phase, 'intent');
    assert.equal(outcome!.reason, 'client_aborted');
    assert.equal(outcome!.decision, 'allow');
    assert.equal(outcome!.forwarded, true);
    assert.equal(outcome!.status, 499);
    const started = stack.sfn.executions('deploy').find((e) => e.executionArn === outcome!.target?.executionArn);
    assert.ok(started, 'the record names the execution that was started');
    assert.equal(await stack.gateway.requestsCounted({ route: 'deploy', reason: 'client_aborted' }), counted + 1);
  });

  it('while a sync execution runs: one outcome, with the execution it started', async () => {
    stack.sfn.inject('StartSyncExecution', { kind: 'delay', ms: 500 });
    const requestId = await postAndReset('/workflows/check', '{"name":"x"}');
    const records = await recordsOf(requestId);
    assert.equal(records.length, 2);
    assert.equal(records[1]!.reason, 'client_aborted');
    assert.equal(records[1]!.forwarded, true);
  });
});
