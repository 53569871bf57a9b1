import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AllowConfig, RouteConfig } from '../../src/config/schema.ts';
import { compilePolicy } from '../../src/policy/evaluate.ts';
import type { Decision, Subject } from '../../src/policy/types.ts';

function route(allow: AllowConfig | undefined, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name: 'r',
    path: '/r',
    methods: ['GET'],
    target: 't',
    auth: ['bearer'],
    public: false,
    ...(allow ? { allow } : {}),
    ...extra,
  };
}

function subject(over: Partial<Subject> = {}): Subject {
  return { issuer: 'keycloak', scopes: [], roles: [], groups: [], claims: {}, ...over };
}

const ALLOWED: Decision = { allow: true, reason: 'allowed' };
const scopeDenied = (failed: string): Decision => ({ allow: false, reason: 'insufficient_scope', failed });
const policyDenied = (failed: string): Decision => ({ allow: false, reason: 'policy_denied', failed });

const gha = {
  repository: 'acme/app',
  ref: 'refs/heads/main',
  run_attempt: 2,
  private: true,
  realm_access: { roles: ['deployer', 'viewer'] },
  nested: { list: [{ a: 1 }, 7, false] },
  nothing: null,
};

/** [what, allow, subject, expected decision]. */
const CASES: readonly (readonly [string, AllowConfig | undefined, Subject, Decision])[] = [
  ['scopes: all held', { scopes: ['a', 'b'] }, subject({ scopes: ['b', 'a', 'c'] }), ALLOWED],
  [
    'scopes: one missing',
    { scopes: ['a', 'orders:write'] },
    subject({ scopes: ['a'] }),
    scopeDenied('scopes: missing "orders:write"'),
  ],
  [
    'scopes: all missing are named',
    { scopes: ['a', 'b'] },
    subject(),
    scopeDenied('scopes: missing "a", "b"'),
  ],
  [
    'scopes: exact, not prefix',
    { scopes: ['orders'] },
    subject({ scopes: ['orders:read'] }),
    scopeDenied('scopes: missing "orders"'),
  ],
  ['anyScopes: one held', { anyScopes: ['a', 'b'] }, subject({ scopes: ['b'] }), ALLOWED],
  [
    'anyScopes: none held',
    { anyScopes: ['a', 'b'] },
    subject({ scopes: ['c'] }),
    scopeDenied('anyScopes: none of "a", "b"'),
  ],
  ['roles: held', { roles: ['admin'] }, subject({ roles: ['admin'] }), ALLOWED],
  [
    'roles: missing',
    { roles: ['admin'] },
    subject({ roles: ['Admin'] }),
    policyDenied('roles: missing "admin"'),
  ],
  [
    'groups: missing',
    { groups: ['ops', 'dev'] },
    subject({ groups: ['dev'] }),
    policyDenied('groups: missing "ops"'),
  ],
  ['claims: exact string', { claims: { ref: 'refs/heads/main' } }, subject({ claims: gha }), ALLOWED],
  [
    'claims: mismatch names value and glob',
    { claims: { ref: 'refs/heads/main' } },
    subject({ claims: { ref: 'refs/heads/dev' } }),
    policyDenied('claims.ref: "refs/heads/dev" does not match "refs/heads/main"'),
  ],
  [
    'claims: * spans slashes',
    { claims: { repository: 'acme/*' } },
    subject({ claims: { repository: 'acme/a/b' } }),
    ALLOWED,
  ],
  [
    'claims: * is anchored',
    { claims: { repository: 'acme/*' } },
    subject({ claims: { repository: 'evil/acme/x' } }),
    policyDenied('claims.repository: "evil/acme/x" does not match "acme/*"'),
  ],
  [
    'claims: glob in the middle',
    { claims: { ref: 'refs/*/rel-*' } },
    subject({ claims: { ref: 'refs/tags/rel-1' } }),
    ALLOWED,
  ],
  [
    'claims: list, any matches',
    { claims: { ref: ['refs/heads/main', 'refs/tags/*'] } },
    subject({ claims: { ref: 'refs/tags/v1' } }),
    ALLOWED,
  ],
  [
    'claims: list, none matches',
    { claims: { ref: ['refs/heads/main', 'refs/tags/*'] } },
    subject({ claims: { ref: 'refs/heads/x' } }),
    policyDenied('claims.ref: "refs/heads/x" does not match any of "refs/heads/main", "refs/tags/*"'),
  ],
  [
    'claims: dotted path into an array',
    { claims: { 'realm_access.roles': 'deploy*' } },
    subject({ claims: gha }),
    ALLOWED,
  ],
  [
    'claims: array without a match',
    { claims: { 'realm_access.roles': 'admin' } },
    subject({ claims: gha }),
    policyDenied('claims.realm_access.roles: no element matches "admin"'),
  ],
  ['claims: number as string', { claims: { run_attempt: '2' } }, subject({ claims: gha }), ALLOWED],
  ['claims: boolean as string', { claims: { private: 'true' } }, subject({ claims: gha }), ALLOWED],
  [
    'claims: number element in an array',
    { claims: { 'nested.list': '7' } },
    subject({ claims: gha }),
    ALLOWED,
  ],
  [
    'claims: object elements never match',
    { claims: { 'nested.list': '*' } },
    subject({ claims: { nested: { list: [{ a: 1 }, ['x']] } } }),
    policyDenied('claims.nested.list: no element matches "*"'),
  ],
  [
    'claims: missing',
    { claims: { environment: '*' } },
    subject({ claims: gha }),
    policyDenied('claims.environment: missing'),
  ],
  [
    'claims: null is missing',
    { claims: { nothing: '*' } },
    subject({ claims: gha }),
    policyDenied('claims.nothing: missing'),
  ],
  [
    'claims: an object never matches, not even *',
    { claims: { realm_access: '*' } },
    subject({ claims: gha }),
    policyDenied('claims.realm_access: is not a string, number or boolean'),
  ],
  [
    'claims: path through a non-object',
    { claims: { 'ref.length': '*' } },
    subject({ claims: gha }),
    policyDenied('claims.ref.length: missing'),
  ],
  [
    'claims: path through an array',
    { claims: { 'realm_access.roles.0': '*' } },
    subject({ claims: gha }),
    policyDenied('claims.realm_access.roles.0: missing'),
  ],
  [
    'claims: no prototype lookups',
    { claims: { 'constructor.name': '*' } },
    subject({ claims: gha }),
    policyDenied('claims.constructor.name: missing'),
  ],
  [
    'claims: empty glob matches only empty',
    { claims: { ref: '' } },
    subject({ claims: gha }),
    policyDenied('claims.ref: "refs/heads/main" does not match ""'),
  ],
  [
    'claims: value is capped and stripped of control characters',
    { claims: { ref: 'refs/heads/main' } },
    subject({ claims: { ref: `refs/\u001b[31m\r\n\u202e${'x'.repeat(100)}` } }),
    policyDenied(`claims.ref: "refs/[31m${'x'.repeat(55)}…" does not match "refs/heads/main"`),
  ],
  [
    'claims: quotes in a value cannot close the quotes',
    { claims: { ref: 'x' } },
    subject({ claims: { ref: 'a" does match "x' } }),
    policyDenied('claims.ref: "a\\" does match \\"x" does not match "x"'),
  ],
  [
    'all conditions must hold: scopes first',
    { scopes: ['a'], claims: { ref: 'x' } },
    subject({ claims: gha }),
    scopeDenied('scopes: missing "a"'),
  ],
  [
    'all conditions must hold: then claims',
    { scopes: ['a'], claims: { ref: 'x' } },
    subject({ scopes: ['a'], claims: gha }),
    policyDenied('claims.ref: "refs/heads/main" does not match "x"'),
  ],
  [
    'anyOf: first alternative',
    { anyOf: [{ scopes: ['deploy:start'] }, { claims: { repository: 'acme/*' } }] },
    subject({ scopes: ['deploy:start'] }),
    ALLOWED,
  ],
  [
    'anyOf: second alternative',
    { anyOf: [{ scopes: ['deploy:start'] }, { claims: { repository: 'acme/*' } }] },
    subject({ claims: gha }),
    ALLOWED,
  ],
  [
    'anyOf: none holds',
    {
      anyOf: [{ scopes: ['deploy:start'] }, { claims: { repository: 'acme/*', ref: 'refs/heads/main' } }],
    },
    subject({ claims: { repository: 'acme/app', ref: 'refs/heads/dev' } }),
    policyDenied(
      'anyOf: no alternative holds (1) scopes: missing "deploy:start"; ' +
        '2) claims.ref: "refs/heads/dev" does not match "refs/heads/main")',
    ),
  ],
  [
    'anyOf: only scope failures is insufficient_scope',
    { anyOf: [{ scopes: ['a'] }, { anyScopes: ['b', 'c'] }] },
    subject(),
    scopeDenied('anyOf: no alternative holds (1) scopes: missing "a"; 2) anyScopes: none of "b", "c")'),
  ],
  [
    'anyOf is ANDed with direct conditions',
    { groups: ['ops'], anyOf: [{ scopes: ['a'] }] },
    subject({ scopes: ['a'] }),
    policyDenied('groups: missing "ops"'),
  ],
  [
    'anyOf and direct conditions both hold',
    { groups: ['ops'], anyOf: [{ scopes: ['x'] }, { scopes: ['a'] }] },
    subject({ scopes: ['a'], groups: ['ops'] }),
    ALLOWED,
  ],
  [
    'an empty anyOf alternative never holds',
    { anyOf: [{}, { scopes: ['a'] }] },
    subject(),
    policyDenied('anyOf: no alternative holds (1) anyOf[0]: has no condition; 2) scopes: missing "a")'),
  ],
  [
    'no condition never allows',
    {},
    subject({ scopes: ['a'] }),
    policyDenied('route allows nobody: it has no allow condition'),
  ],
  [
    'empty claims map is no condition',
    { claims: {} },
    subject(),
    policyDenied('route allows nobody: it has no allow condition'),
  ],
  [
    'no allow at all never allows',
    undefined,
    subject(),
    policyDenied('route allows nobody: it has no allow condition'),
  ],
];

describe('compilePolicy', () => {
  for (const [what, allow, who, expected] of CASES) {
    test(what, () => assert.deepEqual(compilePolicy(route(allow))(who), expected));
  }

  test('a public route allows anyone', () => {
    assert.deepEqual(compilePolicy(route(undefined, { public: true }))(subject()), {
      allow: true,
      reason: 'public',
    });
  });

  test('the route issuer restriction holds (defense in depth)', () => {
    const decide = compilePolicy(route({ scopes: ['a'] }, { issuers: ['okta'] }));
    assert.deepEqual(decide(subject({ issuer: 'okta', scopes: ['a'] })), ALLOWED);
    assert.deepEqual(
      decide(subject({ issuer: 'keycloak', scopes: ['a'] })),
      policyDenied('issuer: "keycloak" is not accepted by this route'),
    );
  });

  test('a malformed subject is denied, not thrown', () => {
    const decide = compilePolicy(route({ scopes: ['a'] }));
    const broken = { issuer: 'x', roles: [], groups: [], claims: {} } as unknown as Subject;
    assert.deepEqual(decide(broken), policyDenied('policy could not be evaluated for this identity'));
  });

  test('a pathological glob against a long value stays fast', () => {
    const decide = compilePolicy(route({ claims: { ref: '*a*a*a*a*a*a*a*a*b' } }));
    const started = performance.now();
    const decision = decide(subject({ claims: { ref: 'a'.repeat(100_000) } }));
    assert.equal(decision.allow, false);
    assert.ok(performance.now() - started < 200, 'linear-time glob');
  });
});
