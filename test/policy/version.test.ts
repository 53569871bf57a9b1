import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RouteConfig } from '../../src/config/schema.ts';
import { canonicalJson } from '../../src/canonical-json.ts';
import { policyVersion } from '../../src/policy/version.ts';

const a: RouteConfig = {
  name: 'deploy',
  path: '/workflows/deploy',
  methods: ['POST'],
  target: 'deploy',
  auth: ['bearer'],
  public: false,
  allow: {
    anyOf: [{ scopes: ['deploy:start'] }, { claims: { repository: 'acme/*', ref: 'refs/heads/main' } }],
  },
};

/** The same route, every object's keys in another order. */
const aReordered: RouteConfig = {
  allow: {
    anyOf: [{ scopes: ['deploy:start'] }, { claims: { ref: 'refs/heads/main', repository: 'acme/*' } }],
  },
  public: false,
  auth: ['bearer'],
  target: 'deploy',
  methods: ['POST'],
  path: '/workflows/deploy',
  name: 'deploy',
};

const b: RouteConfig = {
  ...a,
  name: 'status',
  path: '/status',
  methods: ['GET'],
  public: true,
  allow: undefined,
};

describe('canonicalJson', () => {
  const cases: readonly (readonly [unknown, string])[] = [
    [{ b: 1, a: [3, { d: null, c: 'x' }] }, '{"a":[3,{"c":"x","d":null}],"b":1}'],
    [{ z: undefined, y: true }, '{"y":true}'],
    [[undefined], '[null]'],
    ['é"', '"é\\""'],
  ];
  for (const [value, expected] of cases) {
    test(expected, () => assert.equal(canonicalJson(value), expected));
  }
});

describe('policyVersion', () => {
  test('is the sha256 hex of the canonical JSON', () => {
    assert.equal(policyVersion([]), '4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945');
  });

  test('is stable across key order', () => {
    assert.equal(policyVersion([a, b]), policyVersion([aReordered, b]));
    assert.match(policyVersion([a]), /^[0-9a-f]{64}$/);
  });

  const changes: readonly (readonly [string, RouteConfig[]])[] = [
    ['route order', [b, a]],
    ['a scope', [{ ...a, allow: { scopes: ['deploy:stop'] } }, b]],
    ['a method', [{ ...a, methods: ['POST', 'PUT'] }, b]],
    ['a target', [{ ...a, target: 'other' }, b]],
  ];
  test('changes with the order of a glob list (lists keep their order)', () => {
    const xy = { ...a, allow: { claims: { ref: ['x', 'y'] } } };
    const yx = { ...a, allow: { claims: { ref: ['y', 'x'] } } };
    assert.notEqual(policyVersion([xy]), policyVersion([yx]));
  });

  for (const [what, routes] of changes) {
    test(`changes with ${what}`, () => assert.notEqual(policyVersion(routes), policyVersion([a, b])));
  }
});
