import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, stepgate, tempDir } from '../support/run-cli.ts';

const GATEWAY_YAML = join(ROOT, 'config', 'gateway.yaml');

/** config/gateway.yaml with `edit` applied; fails loudly if the text to replace moved. */
async function variant(name: string, edit: (text: string) => string): Promise<string> {
  const original = await readFile(GATEWAY_YAML, 'utf8');
  const text = edit(original);
  assert.notEqual(text, original, `${name}: the edit changed nothing`);
  const path = join(await tempDir(), name);
  await writeFile(path, text);
  return path;
}

/** `alow:` in routes[1] (orders-write). */
const typoKey = (text: string) =>
  text.replace(/(\n {4}target: orders\n) {4}allow:\n( {6}anyOf:)/, '$1    alow:\n$2');
/** routes[0] (orders-read) points at a target that does not exist. */
const danglingTarget = (text: string) =>
  text.replace(/(name: orders-read\n.*\n.*\n {4}target: )orders/, '$1ordres');

describe('stepgate check', () => {
  test('config/gateway.yaml is valid → exit 0', async () => {
    const result = await stepgate(['check', '--config', 'config/gateway.yaml']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /config\/gateway\.yaml: valid/);
  });

  test('with no --config it checks config/gateway.yaml', async () => {
    const result = await stepgate(['check']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'config/gateway.yaml: valid\n');
  });

  test('a typo’d key → exit 2 naming its key path', async () => {
    const result = await stepgate(['check', '--config', await variant('typo.yaml', typoKey)]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid configuration:/);
    assert.match(result.stderr, /routes\[1\]\.alow: unknown key/);
    assert.equal(result.stdout, '');
  });

  test('a dangling target → exit 2 naming its key path', async () => {
    const result = await stepgate(['check', '--config', await variant('dangling.yaml', danglingTarget)]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /routes\[0\]\.target: no target named "ordres"/);
  });

  // DESIGN.md: "report every problem in one pass": an unknown key must not hide a dangling target.
  test('a typo’d key and a dangling target → both reported in one run', async () => {
    const path = await variant('both.yaml', (text) => danglingTarget(typoKey(text)));
    const result = await stepgate(['check', '--config', path]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /routes\[1\]\.alow: unknown key/);
    assert.match(result.stderr, /routes\[0\]\.target: no target named "ordres"/);
  });

  test('a missing file → exit 2 saying it cannot be read', async () => {
    const missing = join(await tempDir(), 'nope.yaml');
    const result = await stepgate(['check', '--config', missing]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot read .*nope\.yaml/);
  });

  test('STEPGATE_CONFIG is the default config file', async () => {
    const bad = await variant('env-typo.yaml', typoKey);
    const result = await stepgate(['check'], { STEPGATE_CONFIG: bad });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /routes\[1\]\.alow: unknown key/);
  });

  test('--config wins over STEPGATE_CONFIG', async () => {
    const bad = await variant('env-typo2.yaml', typoKey);
    const result = await stepgate(['check', '--config', 'config/gateway.yaml'], { STEPGATE_CONFIG: bad });
    assert.equal(result.code, 0, result.stderr);
  });

  test('a missing ${VAR} → exit 2 naming the key that uses it', async () => {
    const path = await variant('env.yaml', (text) =>
      text.replace('url: http://127.0.0.1:3000', 'url: ${STEPGATE_TEST_ORDERS_URL}'),
    );
    const missing = await stepgate(['check', '--config', path]);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /targets\.orders\.url: environment variable STEPGATE_TEST_ORDERS_URL is not set/,
    );

    const set = await stepgate(['check', '--config', path], {
      STEPGATE_TEST_ORDERS_URL: 'http://127.0.0.1:4000',
    });
    assert.equal(set.code, 0, set.stderr);
  });

  // The one-pass salvage stands an unreadable Argo target in as an Argo target: as an HTTP one,
  // the readAnyExecution of the route that reads it was reported as a second, false problem.
  test('an Argo target with a bad value → that problem only, none for the routes to it', async () => {
    const path = await variant('argo.yaml', (text) => text.replace('    namespace: ci\n', '    namespace: Bad_NS\n'));
    const result = await stepgate(['check', '--config', path]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid configuration: 1 problem\n/);
    assert.match(result.stderr, /targets\.deploy-k8s\.namespace: must be a Kubernetes name/);
  });

  // Regression: `check FILE` used to ignore FILE and report config/gateway.yaml as valid.
  test('a positional FILE is refused, not silently replaced by the default config', async () => {
    const bad = await variant('positional.yaml', typoKey);
    const result = await stepgate(['check', bad]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unexpected argument ".*positional\.yaml" \(did you mean --config /);
    assert.equal(result.stdout, '');
  });
});

/** A config with one mistake of each kind: every one must be reported in the same run. */
const MANY_MISTAKES = `server:
  port: eighty
  shutdownGraceMs: 1000
issuers:
  - name: kc
    issuer: https://sso.example.com/realms/x
    audiences: [stepgate]
    preset: keycloack
targets:
  orders:
    type: http
    url: http://127.0.0.1:3000
    timeoutMS: 500
routes:
  - name: read
    path: /api/*
    methds: [GET]
    target: ordres
    issuers: [okta]
    allow: { scopes: [orders:read] }
  - name: write
    path: /api/*
    methods: [POST, FETCH]
    target: orders
    allow: {}
  - name: status
    path: /status
    target: missing
    public: yes
audit:
  failclosed: true
`;

describe('stepgate check: every problem in one pass', () => {
  test('type errors, typo’d keys and values, dangling names and empty policies, all at once, naming the file', async () => {
    const path = join(await tempDir(), 'many.yaml');
    await writeFile(path, MANY_MISTAKES);
    const result = await stepgate(['check', '--config', path]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    const expected = [
      `${path}: invalid configuration: 12 problems`,
      '  server.port: Invalid input: expected number, received string',
      '  issuers[0].preset: Invalid option: expected one of "keycloak"|"okta"|"github-actions"|"generic" (did you mean "keycloak"?)',
      '  targets.orders.timeoutMS: unknown key (did you mean "timeoutMs"?)',
      '  routes[0].methds: unknown key (did you mean "methods"?)',
      '  routes[1].methods[1]: Invalid option: expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"DELETE"|"OPTIONS"',
      '  routes[2].public: Invalid input: expected boolean, received string',
      '  audit.failclosed: unknown key (did you mean "failClosed"?)',
      // The cross-checks run too, although the schema refused the file:
      '  routes[0].target: no target named "ordres"',
      '  routes[0].issuers[0]: no issuer named "okta"',
      '  routes[1].allow: must hold at least one condition',
      '  routes[2].target: no target named "missing"',
      // `public: yes` is a string in YAML 1.2, so the route is not public and needs a policy.
      '  routes[2].allow: is required unless the route is public: nothing is allowed by accident',
    ];
    assert.deepEqual(result.stderr.trimEnd().split('\n'), expected);
  });

  test('YAML syntax errors are sentences with line and column, naming the file', async () => {
    const path = join(await tempDir(), 'broken.yaml');
    await writeFile(path, 'server:\n  port: 8080\n  port: 9090\nroutes:\n\t- name: x\n');
    const result = await stepgate(['check', '--config', path]);
    assert.equal(result.code, 2);
    const lines = result.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid configuration: \\d problems?$`));
    assert.ok(
      lines.includes(
        '  line 3, column 3: The file is not valid YAML. The key "port" appears twice in the same mapping; each key may appear only once.',
      ),
      result.stderr,
    );
    assert.ok(
      lines.includes('  line 5, column 1: The file is not valid YAML. A tab is used for indentation; YAML indents with spaces only.'),
      result.stderr,
    );
    assert.doesNotMatch(result.stderr, /\^|at line/, 'no caret drawing, no parser phrasing');
  });
});
