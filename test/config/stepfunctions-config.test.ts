import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { configProblems as problems } from '../support/configs.ts';

const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:deploy';

function doc(overrides: { target?: Record<string, unknown>; routes?: unknown[] } = {}) {
  return {
    issuers: [{ name: 'kc', issuer: 'https://sso.example.com/realms/x', audiences: ['stepgate'] }],
    targets: {
      deploy: { type: 'stepfunctions', stateMachineArn: ARN, region: 'us-east-1', ...overrides.target },
      orders: { type: 'http', url: 'http://127.0.0.1:3000' },
    },
    routes: overrides.routes ?? [
      {
        name: 'deploy',
        path: '/workflows/deploy',
        methods: ['POST'],
        target: 'deploy',
        allow: { scopes: ['deploy:start'] },
      },
      {
        name: 'executions',
        path: '/executions/*',
        methods: ['GET'],
        target: 'deploy',
        allow: { anyScopes: ['deploy:start', 'deploy:read'] },
        readAnyExecution: { anyOf: [{ roles: ['auditor'] }, { groups: ['sre'] }] },
      },
    ],
  };
}

describe('stepfunctions config', () => {
  it('accepts targets, credentials and readAnyExecution, with named defaults', () => {
    const config = parseConfig(
      doc({
        target: {
          credentials: {
            assumeRoleArn: 'arn:aws:iam::123456789012:role/deployer',
            sessionTags: ['repository'],
          },
        },
      }),
      {},
    );
    const target = config.targets['deploy'];
    assert.equal(target?.type, 'stepfunctions');
    if (target?.type !== 'stepfunctions') return;
    assert.equal(target.mode, 'async');
    assert.equal(target.input, 'envelope');
    assert.equal(target.credentials?.durationSeconds, 900);
  });

  const refused: [string, ReturnType<typeof doc>, string][] = [
    [
      'a public route to a state machine',
      doc({ routes: [{ name: 'r', path: '/w', methods: ['POST'], target: 'deploy', public: true }] }),
      'routes[0].public: a stepfunctions target needs a verified caller',
    ],
    [
      'PUT on a state machine',
      doc({
        routes: [
          { name: 'r', path: '/w', methods: ['POST', 'PUT'], target: 'deploy', allow: { scopes: ['a'] } },
        ],
      }),
      'routes[0].methods[1]: a stepfunctions target takes POST (start) and GET/HEAD (read), not PUT',
    ],
    [
      'readAnyExecution on an http route',
      doc({
        routes: [
          {
            name: 'r',
            path: '/x/*',
            target: 'orders',
            allow: { scopes: ['a'] },
            readAnyExecution: { roles: ['x'] },
          },
        ],
      }),
      'routes[0].readAnyExecution: only for routes to a stepfunctions or argo target',
    ],
    [
      'an empty readAnyExecution',
      doc({
        routes: [
          {
            name: 'r',
            path: '/e/*',
            methods: ['GET'],
            target: 'deploy',
            allow: { scopes: ['a'] },
            readAnyExecution: {},
          },
        ],
      }),
      'routes[0].readAnyExecution: must hold at least one condition',
    ],
    [
      'readAnyExecution on a POST-only route',
      doc({
        routes: [
          {
            name: 'r',
            path: '/w',
            methods: ['POST'],
            target: 'deploy',
            allow: { scopes: ['a'] },
            readAnyExecution: { roles: ['x'] },
          },
        ],
      }),
      'routes[0].readAnyExecution: needs a route with GET: it is about reading',
    ],
    [
      'a region that is not the state machine’s',
      doc({ target: { region: 'eu-west-1' } }),
      'targets.deploy.region: is eu-west-1, but the state machine is in us-east-1',
    ],
    [
      'session tags that collide in IAM',
      doc({
        target: {
          credentials: { assumeRoleArn: 'arn:aws:iam::123456789012:role/d', sessionTags: ['Team', 'team'] },
        },
      }),
      'targets.deploy.credentials.sessionTags[1]: duplicate tag "team"',
    ],
  ];
  for (const [what, document, problem] of refused) {
    it(`refuses ${what}`, () =>
      assert.ok(problems(document).includes(problem), problems(document).join('\n')));
  }
});
