/**
 * A client that resets the connection while its Argo submission is under way (issue 8 item 1,
 * for the target issue 13 added): the durable intent record, then exactly one outcome record
 * saying `client_aborted`, that the request was forwarded, and which workflow — the same
 * accounting a Step Functions start gets, from the one intent record both targets write.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ArgoStack, ARGO_NAMESPACE, startArgoStack } from '../../support/argo.ts';
import { eventually } from '../../support/gateway.ts';
import { githubActionsClaims } from '../../support/issuer.ts';
import { postThenReset } from '../../support/raw-http.ts';

let stack: ArgoStack;

before(async () => {
  stack = await startArgoStack();
});

after(() => stack.close());

describe('an Argo request whose client resets', () => {
  it('while the submission runs: the workflow starts, and its outcome is recorded once as client_aborted', async () => {
    const { gateway, argo } = stack;
    const counted = await gateway.requestsCounted({ route: 'deploy', reason: 'client_aborted' });
    argo.inject('submit', { kind: 'delay', ms: 500 });
    const token = await stack.github.sign(githubActionsClaims({ repository: 'acme/app', ref: 'refs/heads/main' }));
    const requestId = await postThenReset(gateway, '/argo/deploy', token, '{"version":"9.9.9"}');
    await eventually(
      async () => (await gateway.auditRecords()).some((r) => r.requestId === requestId && r.phase !== 'intent'),
      'the outcome record',
    );
    // The submission may still be answered after the outcome: wait for it, then count records.
    await eventually(() => argo.submissions().length === 1, 'the submission');
    const records = (await gateway.auditRecords()).filter((r) => r.requestId === requestId);
    assert.equal(records.length, 2, 'the intent and one outcome');
    const [intent, outcome] = records;
    assert.equal(intent!.phase, 'intent');
    assert.equal(outcome!.reason, 'client_aborted');
    assert.equal(outcome!.decision, 'allow');
    assert.equal(outcome!.forwarded, true);
    assert.equal(outcome!.status, 499);
    const workflow = argo.workflows(ARGO_NAMESPACE).find(
      (w) => (w['metadata'] as { name: string }).name === outcome!.target?.executionName,
    );
    assert.ok(workflow, 'the record names the workflow that was started');
    assert.equal(await gateway.requestsCounted({ route: 'deploy', reason: 'client_aborted' }), counted + 1);
  });
});
