/**
 * Reading a workflow back through the gateway: its starter sees it go Pending → Running →
 * Succeeded (the local controller's clock is moved, not slept on), with times and outputs;
 * `readAnyExecution` callers see everyone's; nobody sees a workflow of another template or one
 * that is not theirs, and all of those look exactly like a workflow that does not exist.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callerTag, executionName } from '../../../src/targets/execution/naming.ts';
import { ARGO_NAMESPACE, type ArgoStack, startArgoStack, type TestArgo } from '../../support/argo.ts';
import type { TestGateway } from '../../support/gateway.ts';
import { githubActionsClaims, type TestIssuer } from '../../support/issuer.ts';
import { auditOf, call } from '../../support/stepfunctions.ts';

let stack: ArgoStack;
let github: TestIssuer;
let argo: TestArgo;
let gateway: TestGateway;

before(async () => {
  stack = await startArgoStack();
  ({ github, argo, gateway } = stack);
});

after(() => stack.close());

const acmeApp = githubActionsClaims({ repository: 'acme/app' });
const appToken = () => github.sign(acmeApp);

async function start(body: Record<string, unknown>): Promise<{ name: string; statusUrl: string }> {
  const { res, json } = await call(gateway, '/argo/deploy', { token: await appToken(), body });
  assert.equal(res.status, 202, JSON.stringify(json()));
  return json<{ name: string; statusUrl: string }>();
}

/** Submits straight to argo-server, as someone with RBAC in the namespace could. */
async function submitDirectly(name: string, labels: string, template = 'deploy', kind = 'WorkflowTemplate', envelope = '{}') {
  const res = await fetch(`${argo.url}/api/v1/workflows/${ARGO_NAMESPACE}/submit`, {
    method: 'POST',
    headers: { authorization: `Bearer ${argo.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceKind: kind,
      resourceName: template,
      submitOptions: { name, labels, parameters: [`stepgate-caller=${envelope}`, 'version=1'] },
    }),
  });
  assert.equal(res.status, 200, await res.text());
}

describe('GET <read route>/{name}', () => {
  it('shows its starter the phase as it moves, then the times, progress and outputs', async () => {
    const { statusUrl, name } = await start({ version: '2.0.0', service: 'orders' });
    const read = async () => {
      const { res, json } = await call(gateway, statusUrl, { token: await appToken() });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      return json();
    };
    const waiting = await read();
    assert.equal(waiting['phase'], 'Pending', 'not yet seen by the controller reads as Pending');
    assert.equal(waiting['name'], name);
    assert.equal(waiting['namespace'], ARGO_NAMESPACE);
    argo.clock.advance(1500);
    const running = await read();
    assert.equal(running['phase'], 'Running');
    assert.ok(!Number.isNaN(Date.parse(String(running['startedAt']))));
    assert.equal(running['finishedAt'], undefined);
    argo.clock.advance(5000);
    const done = await read();
    assert.equal(done['phase'], 'Succeeded');
    assert.equal(done['progress'], '1/1');
    assert.ok(Date.parse(String(done['finishedAt'])) > Date.parse(String(done['startedAt'])));
    assert.deepEqual(done['outputs'], {
      parameters: { releasedBy: acmeApp['sub'], artifact: 'registry.local/orders:2.0.0' },
      artifacts: [],
    });
    assert.equal(done['arguments'], undefined, 'the envelope is not shown back');
    assert.equal(done['spec'], undefined);
  });

  it('shows a failed workflow’s message', async () => {
    const { statusUrl } = await start({ version: 'broken' });
    argo.clock.advance(10_000);
    const { json } = await call(gateway, statusUrl, { token: await appToken() });
    assert.equal(json()['phase'], 'Failed');
    assert.equal(json()['message'], 'the deployment failed its checks');
  });

  it('answers HEAD like GET, without a body', async () => {
    const { statusUrl } = await start({ version: '2.0.1' });
    const res = await fetch(gateway.url + statusUrl, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${await appToken()}` },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  it('lets readAnyExecution callers read everyone’s workflows', async () => {
    const { statusUrl } = await start({ version: '2.1.0' });
    const auditor = await github.sign(githubActionsClaims({ repository: 'acme/audit' }));
    const { res } = await call(gateway, statusUrl, { token: auditor });
    assert.equal(res.status, 200);
  });

  it('hides a workflow of another template, even one named and labelled for the caller', async () => {
    const tag = callerTag({ issuer: 'github', sub: acmeApp['sub'] as string });
    const name = `${tag}-kforeignforeignforeignforeignforei`;
    await submitDirectly(name, `stepgate.io/caller=${tag}`, 'release', 'ClusterWorkflowTemplate');
    const { res, json } = await call(gateway, `/argo/workflows/${name}`, { token: await appToken() });
    assert.equal(res.status, 404);
    assert.equal(json()['code'], 'SG_ERR_EXECUTION_NOT_FOUND');
    const { outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.target?.error, 'other_template');
  });

  it('hides a workflow whose name has the caller’s tag but whose caller label is someone else’s', async () => {
    const tag = callerTag({ issuer: 'github', sub: acmeApp['sub'] as string });
    const name = `${tag}-kimpostorimpostorimpostorimposto`;
    await submitDirectly(name, 'stepgate.io/caller=someone-else');
    const { res } = await call(gateway, `/argo/workflows/${name}`, { token: await appToken() });
    assert.equal(res.status, 404);
    const { outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.target?.error, 'not_owner');
  });

  it('answers 404 for names argo-server could not hold, without asking it', async () => {
    const asked = argo.calls.length;
    const tag = callerTag({ issuer: 'github', sub: acmeApp['sub'] as string });
    for (const name of [`${tag.toUpperCase()}-x`, `${tag}-${'x'.repeat(40)}`, `${tag}-x.y`, `${tag}-`, '-leading', 'x'.repeat(64)]) {
      const { res, json } = await call(gateway, `/argo/workflows/${name}`, { token: await appToken() });
      assert.equal(res.status, 404, name);
      assert.equal(json()['code'], 'SG_ERR_EXECUTION_NOT_FOUND', name);
    }
    assert.equal(argo.calls.length, asked);
  });

  it('answers 404 for the caller’s own name that argo-server does not have, audited as NotFound', async () => {
    const tag = callerTag({ issuer: 'github', sub: acmeApp['sub'] as string });
    const { res } = await call(gateway, `/argo/workflows/${tag}-rmissing`, { token: await appToken() });
    assert.equal(res.status, 404);
    const { outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.target?.error, 'NotFound');
    assert.equal(outcome.decision, 'deny');
  });
});

describe('a workflow squatting on the name a caller’s Idempotency-Key gives', () => {
  // Someone with RBAC in the namespace submits, under the very name the caller's next start will
  // ask for, a workflow that is not theirs: the retry path must never hand it over as a replay.
  const squat = [
    ['another caller’s label', 'stepgate.io/caller=someone-else', 'deploy', 'WorkflowTemplate'],
    ['the caller’s label on another template', 'CALLER', 'release', 'ClusterWorkflowTemplate'],
  ] as const;
  for (const [what, label, template, kind] of squat) {
    it(`with ${what} is a 409, and nothing of it is shown`, async () => {
      const sub = acmeApp['sub'] as string;
      const key = `squat-${template}`;
      const name = executionName({ identity: { issuer: 'github', sub }, route: 'deploy', key, requestId: 'unused' });
      // Its envelope holds the very body the caller sends: only who started it, and from which
      // template, tell it apart from the caller's own earlier start.
      const labels = label === 'CALLER' ? `stepgate.io/caller=${callerTag({ issuer: 'github', sub })}` : label;
      await submitDirectly(name, labels, template, kind, JSON.stringify({ body: { version: '9.9.9' } }));
      const { res, json, text } = await call(gateway, '/argo/deploy', {
        token: await appToken(),
        body: { version: '9.9.9' },
        headers: { 'idempotency-key': key },
      });
      assert.equal(res.status, 409, text);
      assert.equal(json()['code'], 'SG_ERR_IDEMPOTENCY_CONFLICT');
      assert.equal(res.headers.get('idempotent-replayed'), null);
      assert.equal(res.headers.get('location'), null);
      assert.ok(!text.includes(name), 'the squatter’s workflow is not named back');
      const { outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
      assert.deepEqual([outcome.decision, outcome.target?.error], ['deny', 'AlreadyExists']);
    });
  }
});
