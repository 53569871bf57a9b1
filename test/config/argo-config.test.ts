/** `type: argo` targets in the config: what is accepted, its named defaults, and every problem `check` names. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { configProblems as problems } from '../support/configs.ts';

function doc(overrides: { target?: Record<string, unknown>; routes?: unknown[] } = {}) {
  return {
    issuers: [{ name: 'gh', issuer: 'https://token.actions.githubusercontent.com', audiences: ['stepgate'] }],
    targets: {
      deploy: {
        type: 'argo',
        server: 'https://argo-server.argo.svc:2746',
        namespace: 'ci',
        templateRef: { kind: 'WorkflowTemplate', name: 'deploy' },
        tokenFile: '/var/run/secrets/stepgate/argo/token',
        ...overrides.target,
      },
    },
    routes: overrides.routes ?? [
      { name: 'deploy', path: '/argo/deploy', methods: ['POST'], target: 'deploy', allow: { claims: { repository: 'acme/*' } } },
      {
        name: 'workflows',
        path: '/argo/workflows/:name',
        methods: ['GET', 'HEAD'],
        target: 'deploy',
        allow: { claims: { repository: 'acme/*' } },
        readAnyExecution: { roles: ['auditor'] },
      },
    ],
  };
}

describe('argo targets in the config', () => {
  it('are accepted, with named defaults', () => {
    const target = parseConfig(doc(), {}).targets['deploy'];
    assert.ok(target?.type === 'argo');
    assert.equal(target.timeoutMs, 10_000);
    assert.deepEqual(target.parameters, []);
    assert.equal(target.entrypoint, undefined);
    assert.equal(target.caFile, undefined);
  });

  it('take a ClusterWorkflowTemplate, an entrypoint, a CA and parameters; http only on loopback', () => {
    assert.deepEqual(
      problems(doc({
        target: {
          templateRef: { kind: 'ClusterWorkflowTemplate', name: 'release.v2' },
          entrypoint: 'main',
          caFile: '/etc/argo/ca.crt',
          parameters: ['service', 'version_2', 'dry-run'],
        },
      })),
      [],
    );
    assert.deepEqual(problems(doc({ target: { server: 'http://127.0.0.1:2746' } })), []);
  });

  it('name every problem with its key path', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ server: 'http://argo.example.com' }, /^targets\.deploy\.server: must be https \(http only on loopback\)$/],
      [{ namespace: 'Kube_System' }, /^targets\.deploy\.namespace: must be a Kubernetes name/],
      [{ templateRef: { kind: 'CronWorkflow', name: 'deploy' } }, /^targets\.deploy\.templateRef\.kind: /],
      [{ templateRef: { kind: 'WorkflowTemplate', name: 'Deploy!' } }, /^targets\.deploy\.templateRef\.name: must be a Kubernetes name/],
      [{ templateRef: { kind: 'WorkflowTemplate', name: 'deploy', namespace: 'x' } }, /^targets\.deploy\.templateRef: unknown key "namespace"|^targets\.deploy\.templateRef\.namespace: unknown key/],
      [{ tokenFile: '' }, /^targets\.deploy\.tokenFile: /],
      [{ parameters: ['stepgate-caller'] }, /^targets\.deploy\.parameters\[0\]: "stepgate-caller" carries the caller/],
      [{ parameters: ['version', 'version'] }, /^targets\.deploy\.parameters\[1\]: duplicate parameter "version"$/],
      [{ parameters: ['a=b'] }, /^targets\.deploy\.parameters\[0\]: must be an Argo parameter name/],
      [{ entrypoint: '-main' }, /^targets\.deploy\.entrypoint: must be an Argo template name$/],
      [{ server: 'http://127.0.0.1:2746', caFile: '/ca.crt' }, /^targets\.deploy\.caFile: is only for an https server$/],
      // The service account is the token's; labels, annotations and priority are the gateway's.
      [{ serviceAccount: 'admin' }, /unknown key/],
      [{ labels: { team: 'x' } }, /unknown key/],
      [{ priority: 5 }, /unknown key/],
    ];
    for (const [target, expected] of cases) {
      const found = problems(doc({ target }));
      assert.equal(found.length, 1, `${JSON.stringify(target)} → ${found.join('; ')}`);
      assert.match(found[0]!, expected);
    }
  });

  it('refuse public routes and methods other than POST, GET and HEAD', () => {
    const found = problems(doc({
      routes: [{ name: 'deploy', path: '/argo/deploy', methods: ['POST', 'DELETE'], target: 'deploy', public: true }],
    }));
    assert.deepEqual(found, [
      'routes[0].public: an argo target needs a verified caller',
      'routes[0].methods[1]: an argo target takes POST (start) and GET/HEAD (read), not DELETE',
    ]);
  });
});
