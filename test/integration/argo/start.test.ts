/**
 * Issue 13's "done when": a GitHub Actions token from acme/app on main starts exactly one
 * workflow from the configured template through the gateway, the workflow carries the caller, a
 * retry with the same key returns the same workflow, another caller cannot read it, and every
 * step is audited — against the local argo-server, with the request checked against the API as
 * documented (swagger.json: WorkflowSubmitRequest and SubmitOpts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ARGO_CALLER_PARAMETER } from '../../../src/config/schema.ts';
import { callerTag } from '../../../src/targets/execution/naming.ts';
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

const acmeApp = githubActionsClaims({ repository: 'acme/app', ref: 'refs/heads/main' });
const acmeOther = githubActionsClaims({ repository: 'acme/other', ref: 'refs/heads/main' });

interface Accepted {
  name: string;
  namespace: string;
  uid: string;
  startDate: string;
  statusUrl: string;
}

/** The fields swagger.json defines for WorkflowSubmitRequest and SubmitOpts. */
const SUBMIT_REQUEST_FIELDS = ['namespace', 'resourceKind', 'resourceName', 'submitOptions'];
const SUBMIT_OPTS_FIELDS = [
  'annotations', 'artifacts', 'dryRun', 'entryPoint', 'generateName', 'labels', 'name', 'ownerReference',
  'parameters', 'podPriorityClassName', 'priority', 'serverDryRun', 'serviceAccount',
];

function parametersOf(workflow: Record<string, unknown>): Record<string, string> {
  const spec = workflow['spec'] as { arguments?: { parameters?: { name: string; value: string }[] } };
  return Object.fromEntries((spec.arguments?.parameters ?? []).map((p) => [p.name, p.value]));
}

function workflowNamed(name: string): Record<string, unknown> {
  const found = argo.workflows(ARGO_NAMESPACE).find((w) => (w['metadata'] as { name: string }).name === name);
  assert.ok(found, `no workflow ${name}`);
  return found;
}

describe('a GitHub Actions deploy through the gateway', () => {
  let first: Accepted;
  let firstRequestId: string;
  const key = 'deploy-acme-app-1.4.2';
  const body = '{"service":"orders","version":"1.4.2","environment":"production"}';

  it('starts exactly one workflow from the configured template (202, Location, statusUrl)', async () => {
    const before = argo.submissions().length;
    const token = await github.sign(acmeApp);
    const { res, json } = await call(gateway, '/argo/deploy?namespace=kube-system&serviceAccount=admin', {
      token,
      body,
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    });
    assert.equal(res.status, 202);
    first = json<Accepted>();
    firstRequestId = res.headers.get('x-request-id')!;
    assert.match(first.name, /^[a-z2-7]{26}-k[a-z2-7]{32}$/);
    assert.equal(first.name.slice(0, 26), callerTag({ issuer: 'github', sub: acmeApp['sub'] as string }));
    assert.equal(first.namespace, ARGO_NAMESPACE);
    assert.match(first.uid, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(first.startDate)));
    assert.equal(first.statusUrl, `/argo/workflows/${first.name}`);
    assert.equal(res.headers.get('location'), first.statusUrl);
    assert.equal(res.headers.get('idempotent-replayed'), null);
    assert.equal(argo.submissions().length, before + 1, 'one submission');
  });

  it('sends argo-server exactly the documented request, as the gateway’s service account', () => {
    const submitted = argo.calls.filter((c) => c.operation === 'submit').at(-1)!;
    assert.equal(submitted.method, 'POST');
    assert.equal(submitted.url, `/api/v1/workflows/${ARGO_NAMESPACE}/submit`, 'the query never reaches argo-server');
    assert.equal(submitted.serviceAccount, 'argo/stepgate');
    const request = submitted.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(request).sort(), [...SUBMIT_REQUEST_FIELDS].sort());
    assert.equal(request['namespace'], ARGO_NAMESPACE);
    assert.equal(request['resourceKind'], 'WorkflowTemplate');
    assert.equal(request['resourceName'], 'deploy');
    const opts = request['submitOptions'] as Record<string, unknown>;
    assert.ok(Object.keys(opts).every((k) => SUBMIT_OPTS_FIELDS.includes(k)));
    assert.deepEqual(Object.keys(opts).sort(), ['labels', 'name', 'parameters'], 'no service account, priority or annotations');
    assert.equal(opts['name'], first.name);
    assert.equal(typeof opts['labels'], 'string', 'SubmitOpts.labels is a comma-separated string');
    assert.ok((opts['parameters'] as unknown[]).every((p) => typeof p === 'string' && p.includes('=')));
  });

  it('stamps the workflow with the caller: labels, and the envelope in stepgate-caller', () => {
    const workflow = workflowNamed(first.name);
    const labels = (workflow['metadata'] as { labels: Record<string, string> }).labels;
    assert.equal(labels['stepgate.io/caller'], callerTag({ issuer: 'github', sub: acmeApp['sub'] as string }));
    assert.equal(labels['stepgate.io/issuer'], 'github');
    assert.equal(labels['stepgate.io/request-id'], firstRequestId);
    assert.equal(labels['workflows.argoproj.io/workflow-template'], 'deploy');
    assert.equal(labels['workflows.argoproj.io/creator'], 'system-serviceaccount-argo-stepgate');
    for (const value of Object.values(labels)) assert.ok(value.length <= 63);

    const parameters = parametersOf(workflow);
    assert.deepEqual(Object.keys(parameters), [ARGO_CALLER_PARAMETER, 'service', 'version', 'environment']);
    assert.equal(parameters['version'], '1.4.2');
    assert.equal(parameters['environment'], 'production');
    const envelopeText = parameters[ARGO_CALLER_PARAMETER]!;
    assert.ok(envelopeText.startsWith(`{"body":${body},`), 'the body exactly as sent');
    const envelope = JSON.parse(envelopeText) as {
      caller: { issuer: string; sub: string; clientId: string; claims: Record<string, unknown> };
      request: { id: string; method: string; path: string };
    };
    assert.equal(envelope.caller.issuer, 'github');
    assert.equal(envelope.caller.sub, 'repo:acme/app:ref:refs/heads/main');
    assert.equal(envelope.caller.clientId, acmeApp['job_workflow_ref']);
    assert.equal(envelope.caller.claims['repository'], 'acme/app');
    assert.equal(envelope.caller.claims['ref'], 'refs/heads/main');
    assert.deepEqual(
      { id: envelope.request.id, method: envelope.request.method, path: envelope.request.path },
      { id: firstRequestId, method: 'POST', path: '/argo/deploy' },
    );
    assert.ok(!/eyJ[\w-]+\.[\w-]+\./.test(JSON.stringify(workflow)), 'no token in the workflow');
  });

  it('audits the start: a durable intent before the submission, then the outcome', async () => {
    const { intent, outcome } = await auditOf(gateway, firstRequestId);
    assert.ok(intent, 'an intent record');
    assert.equal(intent.status, 0);
    assert.deepEqual(intent.target, { name: 'deploy', type: 'argo', executionName: first.name, namespace: ARGO_NAMESPACE });
    assert.equal(intent.caller?.claims['repository'], 'acme/app');
    const submitted = argo.calls.find((c) => c.operation === 'submit' && (c.body as { submitOptions: { name: string } }).submitOptions.name === first.name)!;
    assert.ok(Date.parse(intent.time) <= submitted.at, 'written before argo-server was asked');
    assert.equal(outcome.status, 202);
    assert.equal(outcome.decision, 'allow');
    assert.deepEqual(outcome.target, { ...intent.target, uid: first.uid });
    assert.ok(!gateway.audit.text().includes(argo.token), 'the service-account token is never written');
  });

  it('returns the same workflow for a retry with the same key, without a second one', async () => {
    const count = argo.workflows(ARGO_NAMESPACE).length;
    const { res, json } = await call(gateway, '/argo/deploy', {
      token: await github.sign(acmeApp),
      body,
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    });
    assert.equal(res.status, 202);
    assert.deepEqual(json<Accepted>(), first);
    assert.equal(res.headers.get('idempotent-replayed'), 'true');
    assert.equal(argo.workflows(ARGO_NAMESPACE).length, count);
    const { outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
    assert.equal(outcome.target?.uid, first.uid);
    assert.equal(outcome.target?.error, undefined);
  });

  it('returns the same workflow for the same JSON written with other whitespace or key order', async () => {
    // The rule Step Functions targets follow too (json-body.ts `sameBody`): the workflow would
    // receive the same JSON, so a retry by a client that serializes differently is no conflict.
    const count = argo.workflows(ARGO_NAMESPACE).length;
    for (const same of [
      '{"service": "orders", "version": "1.4.2", "environment": "production"}\n',
      '{"environment":"production","version":"1.4.2","service":"orders"}',
    ]) {
      const { res, json } = await call(gateway, '/argo/deploy', {
        token: await github.sign(acmeApp),
        body: same,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      });
      assert.equal(res.status, 202, same);
      assert.deepEqual(json<Accepted>(), first);
      assert.equal(res.headers.get('idempotent-replayed'), 'true');
    }
    assert.equal(argo.workflows(ARGO_NAMESPACE).length, count);
  });

  it('refuses the same key with another body with 409 — values and numbers compared as written', async () => {
    const numberKey = `${key}-numbers`;
    const started = await call(gateway, '/argo/deploy', {
      token: await github.sign(acmeApp),
      body: '{"version":1.0}',
      headers: { 'content-type': 'application/json', 'idempotency-key': numberKey },
    });
    assert.equal(started.res.status, 202);
    for (const [other, otherKey] of [
      ['{"service":"orders","version":"1.4.3","environment":"production"}', key],
      ['{"version":1}', numberKey],
    ] as const) {
      const { res, json } = await call(gateway, '/argo/deploy', {
        token: await github.sign(acmeApp),
        body: other,
        headers: { 'content-type': 'application/json', 'idempotency-key': otherKey },
      });
      assert.equal(res.status, 409, other);
      assert.equal(json()['code'], 'SG_ERR_IDEMPOTENCY_CONFLICT');
      const { outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
      assert.equal(outcome.target?.error, 'AlreadyExists');
    }
  });

  it('counts starts, replays and conflicts in stepgate_executions_total', async () => {
    const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
    const count = (result: string) =>
      Number(new RegExp(`^stepgate_executions_total\\{target="deploy",result="${result}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    assert.equal(count('started'), 2);
    assert.equal(count('replayed'), 3);
    assert.equal(count('conflict'), 2);
  });

  it('scopes the key to the caller and the route: others start their own workflow', async () => {
    const [other, again] = await Promise.all([
      call(gateway, '/argo/deploy', {
        token: await github.sign(acmeOther),
        body,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      }),
      call(gateway, '/argo/deploy-again', {
        token: await github.sign(acmeApp),
        body,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      }),
    ]);
    assert.equal(other.res.status, 202);
    assert.equal(again.res.status, 202);
    const names = new Set([first.name, other.json<Accepted>().name, again.json<Accepted>().name]);
    assert.equal(names.size, 3);
  });

  it('lets the caller read it back, and no one else: the same 404 as for a missing workflow', async () => {
    const mine = await call(gateway, first.statusUrl, { token: await github.sign(acmeApp) });
    assert.equal(mine.res.status, 200);
    assert.equal(mine.json()['name'], first.name);

    const gets = () => argo.calls.filter((c) => c.operation === 'get').length;
    const asked = gets();
    const theirs = await call(gateway, first.statusUrl, { token: await github.sign(acmeOther) });
    const missing = await call(gateway, `/argo/workflows/${first.name.slice(0, -1)}a`, { token: await github.sign(acmeOther) });
    assert.equal(theirs.res.status, 404);
    assert.equal(missing.res.status, 404);
    const strip = (p: Record<string, unknown>) => ({ ...p, requestId: undefined });
    assert.deepEqual(strip(theirs.json()), strip(missing.json()));
    assert.equal(theirs.json()['code'], 'SG_ERR_EXECUTION_NOT_FOUND');
    assert.equal(gets(), asked, 'argo-server is not asked about a workflow that is not the caller’s');
    const { outcome } = await auditOf(gateway, theirs.res.headers.get('x-request-id')!);
    assert.equal(outcome.reason, 'not_found');
    assert.equal(outcome.target?.error, 'not_owner');
    assert.equal(outcome.target?.executionName, first.name);
  });

  it('starts from a ClusterWorkflowTemplate when the target names one', async () => {
    const { res, json } = await call(gateway, '/argo/release', { method: 'POST', token: await github.sign(acmeApp) });
    assert.equal(res.status, 202);
    const submitted = argo.calls.filter((c) => c.operation === 'submit').at(-1)!.body as Record<string, unknown>;
    assert.equal(submitted['resourceKind'], 'ClusterWorkflowTemplate');
    assert.equal(submitted['resourceName'], 'release');
    const workflow = workflowNamed(json<Accepted>().name);
    const labels = (workflow['metadata'] as { labels: Record<string, string> }).labels;
    assert.equal(labels['workflows.argoproj.io/cluster-workflow-template'], 'release');
    assert.equal(JSON.parse(parametersOf(workflow)[ARGO_CALLER_PARAMETER]!).body, null);
    assert.equal(json<Accepted>().statusUrl, `/argo/releases/${json<Accepted>().name}`);
  });
});

describe('what the caller cannot choose', () => {
  const attempts: Record<string, unknown>[] = [
    { serviceAccount: 'admin' },
    { namespace: 'kube-system' },
    { templateRef: { name: 'other' } },
    { resourceName: 'other' },
    { labels: 'stepgate.io/caller=someone-else' },
    { annotations: 'a=b' },
    { priority: 100 },
    { entryPoint: 'rollback' },
    { name: 'my-own-name' },
    { generateName: 'x-' },
    { [ARGO_CALLER_PARAMETER]: '{"caller":{"sub":"root"}}' },
    { 'stepgate.io/caller': 'x' },
  ];

  for (const attempt of attempts) {
    it(`refuses a body that sets ${Object.keys(attempt)[0]} with 400, and submits nothing`, async () => {
      const count = argo.submissions().length;
      const { res, json } = await call(gateway, '/argo/deploy', {
        token: await github.sign(acmeApp),
        body: { version: '1.0.0', ...attempt },
      });
      assert.equal(res.status, 400);
      assert.equal(json()['code'], 'SG_ERR_BAD_PARAMETER');
      assert.equal(argo.submissions().length, count);
      const { intent, outcome } = await auditOf(gateway, res.headers.get('x-request-id')!);
      assert.equal(intent, undefined, 'nothing was about to start');
      assert.equal(outcome.reason, 'bad_request');
    });
  }

  it('refuses bodies that could be read two ways: duplicate keys, non-objects, nested values', async () => {
    const cases: [string, string][] = [
      ['{"version":"1","version":"2"}', 'SG_ERR_INVALID_JSON'],
      ['{"version":"1","version":"1"}', 'SG_ERR_INVALID_JSON'],
      ['["version"]', 'SG_ERR_BAD_PARAMETER'],
      ['"1.0.0"', 'SG_ERR_BAD_PARAMETER'],
      ['{"version":{"major":1}}', 'SG_ERR_BAD_PARAMETER'],
      ['{"version":null}', 'SG_ERR_BAD_PARAMETER'],
      ['{"version":"\\ud800"}', 'SG_ERR_BAD_PARAMETER'],
      [`{"version":${'['.repeat(64)}${']'.repeat(64)}}`, 'SG_ERR_JSON_TOO_DEEP'],
      [`${'['.repeat(300)}${']'.repeat(300)}`, 'SG_ERR_JSON_TOO_DEEP'],
    ];
    const count = argo.submissions().length;
    for (const [body, code] of cases) {
      const { res, json } = await call(gateway, '/argo/deploy', {
        token: await github.sign(acmeApp),
        body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 400, body);
      assert.equal(json()['code'], code, body);
    }
    assert.equal(argo.submissions().length, count);
  });

  it('keeps numbers as written: 1.50 reaches the workflow as 1.50', async () => {
    const body = '{"version":1.50,"service":"orders"}';
    const { res, json } = await call(gateway, '/argo/deploy', {
      token: await github.sign(acmeApp),
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 202);
    const parameters = parametersOf(workflowNamed(json<Accepted>().name));
    assert.equal(parameters['version'], '1.50');
    assert.ok(parameters[ARGO_CALLER_PARAMETER]!.startsWith(`{"body":${body},`));
  });

  it('starts nothing for a caller the policy refuses (a branch other than main)', async () => {
    const count = argo.submissions().length;
    const { res, json } = await call(gateway, '/argo/deploy', {
      token: await github.sign(githubActionsClaims({ ref: 'refs/heads/dev' })),
      body: { version: '1.0.0' },
    });
    assert.equal(res.status, 403);
    assert.equal(json()['code'], 'SG_ERR_POLICY_DENIED');
    assert.equal(argo.submissions().length, count);
  });
});
