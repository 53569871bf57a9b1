/**
 * An Argo target without a GET route of its own: its 202 advertises no status URL (issue 8: never
 * a URL that leads nowhere). The gateway's `/executions/{arn}` route reads Step Functions
 * executions only — an ARN names its state machine, a workflow name only its caller — so it does
 * not stand in for the missing route.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ArgoStack, startArgoStack } from '../../support/argo.ts';
import { githubActionsClaims } from '../../support/issuer.ts';
import { auditOf, call } from '../../support/stepfunctions.ts';

let stack: ArgoStack;

before(async () => {
  const fromMain = { claims: { repository: 'acme/*', ref: 'refs/heads/main' } };
  stack = await startArgoStack({
    extra: { routes: [{ name: 'deploy', path: '/argo/deploy', methods: ['POST'], target: 'deploy', allow: fromMain }] },
  });
});

after(() => stack.close());

describe('an Argo target that no route reads', () => {
  it('starts the workflow and answers 202 without statusUrl or Location', async () => {
    const token = await stack.github.sign(githubActionsClaims({ repository: 'acme/app', ref: 'refs/heads/main' }));
    const { res, json } = await call(stack.gateway, '/argo/deploy', {
      token,
      body: '{"version":"1.0.0"}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 202);
    const body = json<Record<string, unknown>>();
    assert.match(String(body['name']), /^[a-z2-7]{26}-r[0-9a-f]+$/);
    assert.equal(body['statusUrl'], undefined);
    assert.equal(res.headers.get('location'), null);
    assert.equal(stack.argo.submissions().length, 1);
    const { outcome } = await auditOf(stack.gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.status, 202);

    // Nothing is served at the conventional place either: no route, not a workflow.
    const read = await call(stack.gateway, `/executions/${String(body['name'])}`, { token });
    assert.equal(read.res.status, 404);
    assert.equal(read.json()['code'], 'SG_ERR_NO_ROUTE');
  });
});
