import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, stepgate, tempDir } from './run-cli.ts';

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

  // Regression: `check FILE` used to ignore FILE and report config/gateway.yaml as valid.
  test('a positional FILE is refused, not silently replaced by the default config', async () => {
    const bad = await variant('positional.yaml', typoKey);
    const result = await stepgate(['check', bad]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unexpected argument ".*positional\.yaml" \(did you mean --config /);
    assert.equal(result.stdout, '');
  });
});
