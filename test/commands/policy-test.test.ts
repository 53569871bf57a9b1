import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, stepgate, tempDir } from '../support/run-cli.ts';

const EXAMPLE = join(ROOT, 'examples', 'policy-tests.yaml');
const GATEWAY_YAML = join(ROOT, 'config', 'gateway.yaml');

/** The example with `edit` applied, written where its `config: ../config/gateway.yaml` does not resolve. */
async function exampleCopy(edit: (text: string) => string): Promise<string> {
  const original = await readFile(EXAMPLE, 'utf8');
  const text = edit(original);
  assert.notEqual(text, original, 'the edit changed nothing');
  const path = join(await tempDir(), 'policy-tests.yaml');
  await writeFile(path, text);
  return path;
}

describe('stepgate policy test', () => {
  test('examples/policy-tests.yaml passes against config/gateway.yaml → exit 0', async () => {
    const result = await stepgate(['policy', 'test', 'examples/policy-tests.yaml']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const cases = (await readFile(EXAMPLE, 'utf8')).match(/^ {2}- name: /gm)!.length;
    assert.ok(cases >= 10, `the example has ${cases} cases`);
    assert.match(result.stdout, new RegExp(`^${cases} passed, 0 failed$`, 'm'));
    assert.doesNotMatch(result.stdout, /FAIL/);
  });

  test('one wrong expectation → exit 1, want/got for that case only', async () => {
    const path = await exampleCopy((text) =>
      text.replace(
        /(- name: keycloak user without orders:read is refused with insufficient_scope[\s\S]*?)reason: insufficient_scope/,
        '$1reason: policy_denied',
      ),
    );
    const result = await stepgate(['policy', 'test', path, '--config', GATEWAY_YAML]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stdout,
      /^FAIL {2}keycloak user without orders:read is refused with insufficient_scope \(GET \/api\/orders\/42\)\n {6}want deny \/ policy_denied \/ route orders-read\n {6}got {2}deny \/ insufficient_scope \/ route orders-read \(scopes: missing "orders:read"\)$/m,
    );
    assert.equal(result.stdout.match(/^FAIL/gm)!.length, 1);
    assert.match(result.stdout, /^ok {4}keycloak user with orders:read can list orders$/m);
    assert.match(result.stdout, /^12 passed, 1 failed$/m);
  });

  test('the config comes from --config, else the file’s config:, else STEPGATE_CONFIG', async () => {
    // The copy's `config: ../config/gateway.yaml` resolves to nothing in the temp dir.
    const path = await exampleCopy((text) =>
      text.replace('config: ../config/gateway.yaml', 'config: ./absent.yaml'),
    );
    const own = await stepgate(['policy', 'test', path]);
    assert.equal(own.code, 2);
    assert.match(own.stderr, /cannot read .*absent\.yaml/);

    const flag = await stepgate(['policy', 'test', path, '--config', GATEWAY_YAML]);
    assert.equal(flag.code, 0, flag.stderr);

    const noConfigKey = await exampleCopy((text) => text.replace(/^config: .*$/m, ''));
    const env = await stepgate(['policy', 'test', noConfigKey], { STEPGATE_CONFIG: GATEWAY_YAML });
    assert.equal(env.code, 0, env.stderr);
  });

  test('an unusable fixtures file → exit 2 with the key path of each problem', async () => {
    const path = join(await tempDir(), 'bad.yaml');
    await writeFile(
      path,
      [
        'cases:',
        '  - { name: a, method: GET, path: /x, expect: allowed }',
        '  - { name: b, method: GET, path: /x, expect: deny, reason: insufficent_scope }',
        '  - { name: c, method: GET, path: /x, expect: deny, claim: {} }',
      ].join('\n'),
    );
    const result = await stepgate(['policy', 'test', path, '--config', GATEWAY_YAML]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid policy fixtures .*bad\.yaml:/);
    assert.match(result.stderr, /cases\[0\]\.expect: /);
    assert.match(result.stderr, /cases\[1\]\.reason: /);
    assert.match(result.stderr, /cases\[2\]\.claim: unknown key/);
    assert.equal(result.stdout, '');
  });

  // A misspelt issuer used to make every such case a quiet wrong_issuer deny.
  test('an issuer or route the config does not name → exit 2', async () => {
    const path = join(await tempDir(), 'names.yaml');
    await writeFile(
      path,
      [
        'cases:',
        '  - { name: a, method: GET, path: /api/orders/1, issuer: keycloack, claims: { sub: x }, expect: deny }',
        '  - { name: b, method: GET, path: /public/status, expect: allow, route: statuss }',
      ].join('\n'),
    );
    const result = await stepgate(['policy', 'test', path, '--config', GATEWAY_YAML]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cases\[0\]\.issuer: the config has no issuer named "keycloack"/);
    assert.match(result.stderr, /cases\[1\]\.route: the config has no route named "statuss"/);
  });

  test('usage errors → exit 2', async () => {
    for (const args of [
      ['policy', 'test'],
      ['policy', 'run', 'x.yaml'],
      ['policy', 'test', 'a.yaml', 'b.yaml'],
    ]) {
      const result = await stepgate(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /usage:/);
    }
  });
});
