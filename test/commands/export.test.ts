/**
 * `stepgate export istio|envoy-gateway`: the objects validate against the CRD schemas Istio and
 * Envoy Gateway publish (fetched from their Go modules by scripts/services/mesh-crds.ts), with
 * unknown fields refused as `kubectl apply --validate=strict` would; what cannot be carried is
 * listed per route on stderr and left out by refusing, never by allowing more; `--strict` fails.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { crdFile } from '../support/services.ts';
import { stepgate, tempDir } from '../support/run-cli.ts';

/** Parsed YAML, navigated freely in assertions. */
type Json = ReturnType<typeof JSON.parse>;
type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, Json> };

const CONFIG = `
issuers:
  - name: keycloak
    issuer: https://sso.example.com/realms/platform
    audiences: [stepgate]
    preset: keycloak
    jwksUri: https://sso.example.com/realms/platform/protocol/openid-connect/certs
  - name: github
    issuer: https://token.actions.githubusercontent.com
    audiences: [stepgate]
    preset: github-actions
    jwksUri: https://token.actions.githubusercontent.com/.well-known/jwks
targets:
  orders: { type: http, url: "http://orders:3000" }
  deploy:
    type: stepfunctions
    stateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:deploy"
    region: us-east-1
routes:
  - { name: orders-read, path: "/api/orders/*", methods: [GET], target: orders, allow: { scopes: ["orders:read"] } }
  - name: orders_item
    path: "/api/items/:id"
    methods: [PUT]
    target: orders
    issuers: [keycloak]
    allow: { roles: [admin, "orders:writer"], groups: [eng] }
  - name: ci
    path: /api/ci
    methods: [POST]
    target: orders
    rateLimit: { perCaller: 10, windowSeconds: 60 }
    allow:
      anyOf:
        - { anyScopes: ["deploy:start", "deploy:all"] }
        - { claims: { repository: "acme/*", ref: refs/heads/main } }
        - { claims: { workflow: "deploy-*-prod" } }
  - { name: status, path: /public/status, methods: [GET], target: orders, public: true }
  - { name: deploy, path: /workflows/deploy, methods: [POST], target: deploy, allow: { scopes: ["deploy:start"] } }
`;

/** Only bearer routes with exact claims and issuers with a jwksUri: nothing to leave out. */
const EXPRESSIBLE = `
issuers:
  - { name: okta, issuer: https://acme.okta.com/oauth2/default, audiences: [api], preset: okta, jwksUri: https://acme.okta.com/oauth2/default/v1/keys }
targets: { api: { type: http, url: "http://api:8080" } }
routes:
  - { name: read, path: "/v1/*", methods: [GET], target: api, allow: { scopes: [read], claims: { tenant: acme } } }
`;

async function configFile(text: string): Promise<string> {
  const file = join(await tempDir(), 'gateway.yaml');
  writeFileSync(file, text);
  return file;
}

/** A validator per kind from a CRD file: each served version's openAPIV3Schema, unknown fields refused. */
function validators(file: string): Map<string, ValidateFunction> {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const out = new Map<string, ValidateFunction>();
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS() as { kind?: string; spec?: { group: string; names: { kind: string }; versions: Json[] } };
    if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
    for (const version of crd.spec.versions) {
      const schema = strictFields(structuredClone(version.schema.openAPIV3Schema));
      out.set(`${crd.spec.group}/${version.name} ${crd.spec.names.kind}`, ajv.compile(schema));
    }
  }
  return out;
}

/** Server-side strict field validation: an object schema with properties takes no others. */
function strictFields(schema: Json): Json {
  if (schema && typeof schema === 'object') {
    for (const value of Object.values(schema)) strictFields(value);
    if (schema.properties && schema.additionalProperties === undefined && !schema['x-kubernetes-preserve-unknown-fields']) {
      schema.additionalProperties = false;
    }
  }
  return schema;
}

function assertValid(t: TestContext, mesh: 'istio' | 'envoy-gateway', docs: Doc[]): void {
  const file = crdFile(t, mesh);
  if (!file) return;
  const schemas = validators(file);
  for (const doc of docs) {
    const validate = schemas.get(`${doc.apiVersion} ${doc.kind}`);
    assert.ok(validate, `${doc.apiVersion} ${doc.kind} is a kind the CRDs define`);
    // apiVersion and kind chose the schema; metadata is the API server's (its name is checked here).
    assert.ok(validate({ spec: doc.spec }), `${doc.kind} ${doc.metadata.name}: ${JSON.stringify(validate.errors)}`);
    assert.match(doc.metadata.name, /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a DNS-1123 name');
  }
  // The check can fail: an unknown field and a wrong enum value are refused.
  const [first] = docs;
  const broken = { spec: { ...first!.spec, action: 'PERMIT', allowEveryone: true } };
  assert.equal(schemas.get(`${first!.apiVersion} ${first!.kind}`)!(broken), false);
}

async function exported(mesh: 'istio' | 'envoy-gateway', text: string, ...flags: string[]) {
  const result = await stepgate(['export', mesh, '--config', await configFile(text), ...flags]);
  const docs = parseAllDocuments(result.stdout).map((d) => d.toJS() as Doc);
  return { ...result, docs };
}

describe('export istio', () => {
  it('writes RequestAuthentication and AuthorizationPolicies that validate against Istio\'s CRDs', async (t) => {
    const { code, docs, stderr } = await exported('istio', CONFIG);
    assert.equal(code, 0, stderr);
    assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.name}`), [
      'RequestAuthentication stepgate-orders',
      'AuthorizationPolicy stepgate-orders-allow-nothing',
      'AuthorizationPolicy stepgate-orders-orders-read',
      'AuthorizationPolicy stepgate-orders-orders-item',
      'AuthorizationPolicy stepgate-orders-ci',
      'AuthorizationPolicy stepgate-orders-status',
    ]);
    assertValid(t, 'istio', docs);
  });

  it('carries issuers, audiences, principals, methods, paths and claims, and denies by default', async () => {
    const { docs } = await exported('istio', CONFIG);
    const byName = new Map(docs.map((d) => [d.metadata.name, d]));
    const [keycloak] = byName.get('stepgate-orders')!.spec['jwtRules'];
    assert.equal(keycloak.issuer, 'https://sso.example.com/realms/platform');
    assert.deepEqual(keycloak.audiences, ['stepgate']);
    assert.equal(keycloak.forwardOriginalToken, false);
    assert.deepEqual(byName.get('stepgate-orders-allow-nothing')!.spec, { selector: { matchLabels: { app: 'orders' } } });
    const read = byName.get('stepgate-orders-orders-read')!.spec;
    assert.equal(read['action'], 'ALLOW');
    assert.deepEqual(read['rules'][0].to[0].operation, { methods: ['GET', 'HEAD'], paths: ['/api/orders', '/api/orders/*'] });
    assert.deepEqual(read['rules'][0].from[0].source.requestPrincipals, ['https://sso.example.com/realms/platform/*']);
    assert.deepEqual(read['rules'][0].when, [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }]);
    // GitHub tokens carry no scopes: no rule for them, as stepgate would refuse them too.
    assert.equal(read['rules'].length, 1);
    const item = byName.get('stepgate-orders-orders-item')!.spec['rules'][0];
    assert.deepEqual(item.to[0].operation.paths, ['/api/items/{*}']);
    assert.deepEqual(item.when.map((w: { key: string }) => w.key), [
      'request.auth.claims[realm_access][roles]',
      'request.auth.claims[resource_access][orders][roles]',
      'request.auth.claims[groups]',
    ]);
    const ci = byName.get('stepgate-orders-ci')!.spec['rules'];
    const conditions = ci.map((rule: { when: { key: string; values: string[] }[] }) => rule.when);
    assert.ok(conditions.some((when: { values: string[] }[]) => when[0]!.values.includes('deploy:all')), 'anyScopes is one condition');
    assert.ok(conditions.some((when: { values: string[] }[]) => when[0]!.values[0] === 'acme/*'), 'a prefix glob is kept');
    assert.ok(!JSON.stringify(ci).includes('deploy-*-prod'), 'a mid-string glob is left out, not widened');
    assert.ok(!docs.some((d) => JSON.stringify(d).includes('/workflows/deploy')), 'execution routes are not exported');
  });

  it('lists per route on stderr what it left out, and --strict exits 1 for it', async () => {
    const { code, stderr } = await exported('istio', CONFIG, '--strict');
    assert.equal(code, 1);
    assert.match(stderr, /^routes\[2\] ci: rateLimit: /m);
    assert.match(stderr, /^routes\[2\] ci: claims\.workflow: glob "deploy-\*-prod" has a "\*" inside/m);
    assert.match(stderr, /^routes\[4\] deploy: the route goes to a stepfunctions target/m);
    assert.doesNotMatch(stderr, /^routes\[0\]/m);
    const clean = await exported('istio', EXPRESSIBLE, '--strict');
    assert.equal(clean.code, 0, clean.stderr);
    assert.doesNotMatch(clean.stderr, /^routes\[/m);
  });
});

describe('export envoy-gateway', () => {
  it('writes a SecurityPolicy that validates against Envoy Gateway\'s CRD', async (t) => {
    const { code, docs, stderr } = await exported('envoy-gateway', CONFIG);
    assert.equal(code, 0, stderr);
    assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.name}`), ['SecurityPolicy stepgate-orders']);
    assertValid(t, 'envoy-gateway', docs);
    const clean = await exported('envoy-gateway', EXPRESSIBLE, '--strict');
    assert.equal(clean.code, 0, clean.stderr);
    assertValid(t, 'envoy-gateway', clean.docs);
  });

  it('denies by default and allows each route its methods, path and tokens', async () => {
    const { docs, stderr } = await exported('envoy-gateway', CONFIG);
    const spec = docs[0]!.spec;
    assert.deepEqual(spec['targetRefs'], [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'orders' }]);
    assert.deepEqual(spec['jwt'].providers.map((p: { name: string }) => p.name), ['keycloak', 'github']);
    assert.equal(spec['jwt'].optional, true, 'a public route on the target needs no token');
    assert.equal(spec['authorization'].defaultAction, 'Deny');
    const rules = spec['authorization'].rules as { name: string; operation: Json; principal?: Json }[];
    const read = rules.find((r) => r.name === 'orders-read-0')!;
    assert.deepEqual(read.operation.path, { type: 'RegularExpression', value: '/api/orders(/.*)?' });
    assert.deepEqual(read.principal.jwt, { provider: 'keycloak', scopes: ['orders:read'] });
    const item = rules.find((r) => r.name.startsWith('orders-item'))!;
    assert.deepEqual(item.operation.path, { type: 'RegularExpression', value: '/api/items/[^/]+' });
    assert.deepEqual(rules.filter((r) => r.name.startsWith('ci-')).map((r) => r.principal.jwt.scopes), [['deploy:start'], ['deploy:all']]);
    assert.equal(rules.find((r) => r.name === 'status')!.principal, undefined);
    assert.match(stderr, /^routes\[2\] ci: claims\.repository: glob "acme\/\*" \(Envoy Gateway matches claims exactly\)/m);
  });
});

it('refuses an unknown format', async () => {
  const result = await stepgate(['export', 'linkerd', '--config', await configFile(EXPRESSIBLE)]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /export needs istio or envoy-gateway/);
  assert.ok(parseYaml(EXPRESSIBLE));
});
