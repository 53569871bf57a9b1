/** What the gateway asks argo-server for: body keys as parameters, label-safe labels, the caller's envelope. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArgoTargetConfig } from '../../../src/config/schema.ts';
import { identity as testIdentity } from '../../audit/fixtures.ts';
import { labelValue, workflowLabels } from '../../../src/targets/argo/labels.ts';
import { bodyParameters, buildSubmitRequest, MAX_SUBMIT_BYTES } from '../../../src/targets/argo/submit-request.ts';
import { parseJsonBody } from '../../../src/targets/execution/json-body.ts';

const jsonBody = (text: string) => parseJsonBody('application/json', Buffer.from(text));

const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

describe('labelValue', () => {
  it('keeps what is already a label value', () => {
    for (const value of ['github', 'keycloak', 'a', 'A.b_c-9', 'x'.repeat(63), '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0']) {
      assert.equal(labelValue(value), value);
    }
  });

  it('makes anything else one, with a hash so that two never meet', () => {
    const inputs = ['ends-', '_starts', 'has space', 'x'.repeat(64), 'a=b,c', 'ключ', '---', 'ends-.', 'ends_'];
    const outputs = inputs.map(labelValue);
    for (const out of outputs) assert.match(out, LABEL_VALUE);
    assert.ok(outputs.every((o) => o.length > 0 && o.length <= 63));
    assert.equal(new Set(outputs).size, inputs.length);
    assert.notEqual(labelValue('ends-'), labelValue('ends_'));
  });

  it('labels a workflow with the caller’s tag, the issuer and the request id', () => {
    const labels = workflowLabels({ issuer: 'github.', sub: 'repo:acme/app:ref:refs/heads/main' }, 'req-1');
    assert.deepEqual(Object.keys(labels), ['stepgate.io/caller', 'stepgate.io/issuer', 'stepgate.io/request-id']);
    assert.match(labels['stepgate.io/caller'], /^[a-z2-7]{26}$/);
    for (const value of Object.values(labels)) assert.match(value, LABEL_VALUE);
  });
});

describe('bodyParameters', () => {
  const allowed = ['service', 'version', 'dry-run'];
  const params = (text: string) => bodyParameters(allowed, jsonBody(text));

  it('passes strings as they are, numbers and booleans as written', () => {
    assert.deepEqual(params('{"version":1.50,"dry-run":true,"service":"a=b,c"}'), [
      ['version', '1.50'],
      ['dry-run', 'true'],
      ['service', 'a=b,c'],
    ]);
    assert.deepEqual(bodyParameters(allowed, undefined), []);
    assert.deepEqual(params('{}'), []);
  });

  it('refuses keys it does not list, and values that are not scalars', () => {
    for (const text of ['{"serviceAccount":"x"}', '{"version":null}', '{"version":[1]}', '{"version":{}}', '[]', '"v"', '{"version":"\\udc00"}']) {
      assert.throws(() => params(text), { code: 'SG_ERR_BAD_PARAMETER' }, text);
    }
    assert.throws(() => bodyParameters([], jsonBody('{"version":"1"}')), /takes no parameters/);
  });
});

describe('buildSubmitRequest', () => {
  const config = {
    type: 'argo',
    server: 'https://argo.example.com',
    namespace: 'ci',
    templateRef: { kind: 'WorkflowTemplate', name: 'deploy' },
    tokenFile: '/t',
    timeoutMs: 1000,
    parameters: ['version'],
  } satisfies ArgoTargetConfig;
  const identity = testIdentity({ issuer: 'github', sub: 'repo:acme/app:ref:refs/heads/main' });
  const request = { id: 'req-1', method: 'POST', path: '/argo/deploy', receivedAt: new Date(0) };

  it('names the template, namespace and entrypoint from the config only', () => {
    const built = buildSubmitRequest({ ...config, entrypoint: 'main' }, { name: 'wf', identity, request, body: jsonBody('{"version":"1"}') });
    assert.equal(built.namespace, 'ci');
    assert.equal(built.resourceKind, 'WorkflowTemplate');
    assert.equal(built.resourceName, 'deploy');
    assert.equal(built.submitOptions.entryPoint, 'main');
    assert.equal(built.submitOptions.name, 'wf');
    assert.match(built.submitOptions.labels, /^stepgate\.io\/caller=[a-z2-7]{26},stepgate\.io\/issuer=github,stepgate\.io\/request-id=req-1$/);
    assert.deepEqual(built.submitOptions.parameters.slice(1), ['version=1']);
    assert.ok(built.submitOptions.parameters[0]!.startsWith('stepgate-caller={"body":{"version":"1"},'));
  });

  it('refuses a submission over the limit with 413', () => {
    const big = jsonBody(`{"version":"${'x'.repeat(MAX_SUBMIT_BYTES)}"}`);
    assert.throws(() => buildSubmitRequest(config, { name: 'wf', identity, request, body: big }), { code: 'SG_ERR_INPUT_TOO_LARGE' });
  });
});
