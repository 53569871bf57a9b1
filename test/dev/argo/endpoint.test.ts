/**
 * The local argo-server speaks argo-server's REST API as documented (swagger.json's
 * WorkflowService_SubmitWorkflow / GetWorkflow / ListWorkflows, grpc-gateway errors): a client
 * that works against it sends what argo-server reads and reads what argo-server answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ARGO_NAMESPACE, ARGO_SERVICE_ACCOUNT, startTestArgo, type TestArgo } from '../../support/argo.ts';

let argo: TestArgo;

before(async () => {
  argo = await startTestArgo();
});
after(() => argo.close());

async function api(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const token = init.token === undefined ? argo.token : init.token;
  const res = await fetch(argo.url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const submit = (submitOptions: Record<string, unknown>, template = 'deploy', kind = 'WorkflowTemplate') =>
  api(`/api/v1/workflows/${ARGO_NAMESPACE}/submit`, {
    body: { namespace: ARGO_NAMESPACE, resourceKind: kind, resourceName: template, submitOptions },
  });

describe('POST /api/v1/workflows/{namespace}/submit', () => {
  it('creates a workflow from the WorkflowTemplate, named, labelled and with its parameters', async () => {
    const { status, json } = await submit({
      name: 'wf-one',
      parameters: ['version=1.2.3', 'stepgate-caller={"a":"b=c,d"}'],
      labels: 'team=platform,stepgate.io/caller=abc',
    });
    assert.equal(status, 200);
    const metadata = json['metadata'] as Record<string, unknown>;
    assert.equal(metadata['name'], 'wf-one');
    assert.equal(metadata['namespace'], ARGO_NAMESPACE);
    assert.match(String(metadata['uid']), /^[0-9a-f-]{36}$/);
    assert.match(String(metadata['creationTimestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(metadata['labels'], {
      'workflows.argoproj.io/workflow-template': 'deploy',
      team: 'platform',
      'stepgate.io/caller': 'abc',
      // argo-server labels the workflow with whoever's token submitted it: the service account.
      'workflows.argoproj.io/creator': `system-serviceaccount-${ARGO_SERVICE_ACCOUNT.replace('/', '-')}`,
    });
    assert.deepEqual(json['spec'], {
      workflowTemplateRef: { name: 'deploy' },
      // Split at the first "=" only, as argo-server does.
      arguments: {
        parameters: [
          { name: 'version', value: '1.2.3' },
          { name: 'stepgate-caller', value: '{"a":"b=c,d"}' },
        ],
      },
    });
    assert.deepEqual(json['status'], { startedAt: null, finishedAt: null }, 'the controller has not seen it yet');
  });

  it('answers 409 AlreadyExists for a name that is taken', async () => {
    const { status, json } = await submit({ name: 'wf-one', parameters: ['stepgate-caller={}', 'version=2'] });
    assert.equal(status, 409);
    assert.deepEqual(json, { code: 6, message: 'workflows.argoproj.io "wf-one" already exists', details: [] });
  });

  it('validates the arguments against the template: required values and enums', async () => {
    const missing = await submit({ name: 'wf-missing' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json['code'], 3);
    assert.equal(missing.json['message'], 'spec.arguments.stepgate-caller.value or spec.arguments.stepgate-caller.valueFrom is required');
    const badEnum = await submit({ name: 'wf-enum', parameters: ['stepgate-caller={}', 'version=1', 'environment=moon'] });
    assert.equal(badEnum.status, 400);
    assert.match(String(badEnum.json['message']), /spec\.arguments\.environment\.value should be present in .*enum list/);
    const noEquals = await submit({ name: 'wf-eq', parameters: ['version'] });
    assert.equal(noEquals.status, 500, 'argo-server reports a malformed parameter as Internal');
    assert.equal(argo.workflows().some((w) => String((w['metadata'] as { name: string }).name).startsWith('wf-m')), false);
  });

  it('names what it refuses: kind, template, entrypoint, name, labels, unknown fields', async () => {
    const cases: [Promise<{ status: number; json: Record<string, unknown> }>, number, RegExp][] = [
      [submit({ name: 'x1' }, 'deploy', 'CronWorkflow'), 400, /Resource kind 'CronWorkflow' is not supported/],
      [submit({ name: 'x2' }, 'nope'), 404, /^workflowtemplate\.argoproj\.io "nope" not found$/],
      [submit({ name: 'x3' }, 'nope', 'ClusterWorkflowTemplate'), 404, /^clusterworkflowtemplate\.argoproj\.io "nope" not found$/],
      [submit({ name: 'x4', entryPoint: 'other', parameters: ['stepgate-caller=1', 'version=1'] }), 400, /entrypoint template other not found/],
      [submit({ name: 'X_5', parameters: ['stepgate-caller=1', 'version=1'] }), 400, /metadata\.name: Invalid value/],
      [submit({ name: 'x'.repeat(64) }), 400, /must not be more than 63 characters/],
      [submit({ name: 'x6', labels: 'a=b=c' }), 500, /expected labels of the form/],
      [submit({ name: 'x7', labels: 'a=b c', parameters: ['stepgate-caller=1', 'version=1'] }), 400, /metadata\.labels: Invalid value/],
      [submit({ name: 'x8', workflowTemplateRef: 'other' }), 400, /unknown field "workflowTemplateRef" in SubmitOpts/],
    ];
    for (const [pending, status, message] of cases) {
      const { status: got, json } = await pending;
      assert.equal(got, status, JSON.stringify(json));
      assert.match(String(json['message']), message);
    }
  });

  it('submits from a ClusterWorkflowTemplate with its label and clusterScope', async () => {
    const { status, json } = await submit({ name: 'wf-cluster', parameters: ['stepgate-caller={}'] }, 'release', 'ClusterWorkflowTemplate');
    assert.equal(status, 200);
    assert.equal((json['metadata'] as { labels: Record<string, string> }).labels['workflows.argoproj.io/cluster-workflow-template'], 'release');
    assert.deepEqual((json['spec'] as Record<string, unknown>)['workflowTemplateRef'], { name: 'release', clusterScope: true });
  });
});

describe('authentication and RBAC (argo-server --auth-mode client)', () => {
  it('refuses no token and an unknown token with 401 Unauthenticated', async () => {
    const none = await api(`/api/v1/workflows/${ARGO_NAMESPACE}/wf-one`, { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.json['code'], 16);
    const wrong = await api(`/api/v1/workflows/${ARGO_NAMESPACE}/wf-one`, { token: 'not-a-token' });
    assert.equal(wrong.status, 401);
  });

  it('refuses what the service account’s RBAC does not allow with 403 PermissionDenied', async () => {
    argo.setServiceAccounts([
      { token: argo.token, name: ARGO_SERVICE_ACCOUNT, can: { workflows: ['get'], workflowtemplates: ['get'] } },
    ]);
    try {
      const created = await submit({ name: 'wf-denied', parameters: ['stepgate-caller={}', 'version=1'] });
      assert.equal(created.status, 403);
      assert.equal(created.json['code'], 7);
      assert.match(
        String(created.json['message']),
        /^workflows\.argoproj\.io is forbidden: User "system:serviceaccount:argo:stepgate" cannot create resource "workflows"/,
      );
      const listed = await api(`/api/v1/workflows/${ARGO_NAMESPACE}`);
      assert.equal(listed.status, 403);
    } finally {
      argo.setServiceAccounts([{ token: argo.token, name: ARGO_SERVICE_ACCOUNT }]);
    }
  });
});

describe('GET a workflow, and list them by label selector', () => {
  it('moves Pending → Running → Succeeded as the controller’s clock moves, with outputs', async () => {
    await submit({ name: 'wf-run', parameters: ['stepgate-caller={"caller":{"sub":"me"}}', 'version=9'] });
    const phase = async () => {
      const { json } = await api(`/api/v1/workflows/${ARGO_NAMESPACE}/wf-run`);
      return json['status'] as Record<string, unknown>;
    };
    argo.clock.advance(10);
    assert.equal((await phase())['phase'], 'Pending');
    argo.clock.advance(1000);
    assert.equal((await phase())['phase'], 'Running');
    argo.clock.advance(5000);
    const done = await phase();
    assert.equal(done['phase'], 'Succeeded');
    assert.equal(done['progress'], '1/1');
    assert.ok(Date.parse(String(done['finishedAt'])) > Date.parse(String(done['startedAt'])));
    assert.deepEqual(done['outputs'], {
      parameters: [
        { name: 'releasedBy', value: 'me' },
        { name: 'artifact', value: 'registry.local/app:9' },
      ],
    });
  });

  it('answers 404 NotFound for a workflow that does not exist', async () => {
    const { status, json } = await api(`/api/v1/workflows/${ARGO_NAMESPACE}/nope`);
    assert.equal(status, 404);
    assert.deepEqual(json, { code: 5, message: 'workflows.argoproj.io "nope" not found', details: [] });
  });

  it('filters by listOptions.labelSelector, newest first, with items null when none match', async () => {
    const all = await api(`/api/v1/workflows/${ARGO_NAMESPACE}?listOptions.labelSelector=team%3Dplatform`);
    assert.equal(all.status, 200);
    assert.deepEqual((all.json['items'] as { metadata: { name: string } }[]).map((w) => w.metadata.name), ['wf-one']);
    const set = await api(
      `/api/v1/workflows/${ARGO_NAMESPACE}?${new URLSearchParams({ 'listOptions.labelSelector': 'workflows.argoproj.io/workflow-template in (deploy),!team' })}`,
    );
    assert.deepEqual((set.json['items'] as { metadata: { name: string } }[]).map((w) => w.metadata.name), ['wf-run']);
    const none = await api(`/api/v1/workflows/${ARGO_NAMESPACE}?listOptions.labelSelector=team%3Dnobody`);
    assert.equal(none.json['items'], null);
    const bad = await api(`/api/v1/workflows/${ARGO_NAMESPACE}?listOptions.labelSelector=a%20b%20c`);
    assert.equal(bad.status, 400);
  });
});
