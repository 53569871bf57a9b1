/** `stepgate --version` and `stepgate COMMAND --help` on every command, as every CLI has. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, stepgate } from '../support/run-cli.ts';

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** Each command as typed, and the first line its help must start with. */
const COMMANDS: readonly (readonly [string[], RegExp])[] = [
  [['serve'], /^usage: stepgate serve \[--config FILE\]\n/],
  [['check'], /^usage: stepgate check \[--config FILE\] \[--online\]\n/],
  [['explain'], /^usage: stepgate explain /],
  [['policy', 'test'], /^usage: stepgate policy test FILE/],
  [['audit', 'verify'], /^usage: stepgate audit verify FILE \[--key PUBLIC_KEY_FILE\]\n/],
  [['export', 'istio'], /^usage: stepgate export istio\|envoy-gateway /],
  [['health'], /^usage: stepgate health \[--url URL\]/],
  [['demo'], /^usage: stepgate demo\n/],
  [['dev', 'upstream'], /^usage: stepgate dev upstream\|stepfunctions/],
];

describe('stepgate --version and --help', () => {
  test('--version and -v print the package version, exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      const result = await stepgate([flag]);
      assert.equal(result.code, 0, flag);
      assert.equal(result.stdout, `stepgate ${version}\n`);
    }
  });

  for (const [command, firstLine] of COMMANDS) {
    test(`${command.join(' ')} --help / -h: its own help on stdout, exit 0, nothing run`, async () => {
      for (const flag of ['--help', '-h']) {
        const result = await stepgate([...command, flag], { STEPGATE_CONFIG: '/nonexistent.yaml' });
        assert.equal(result.code, 0, `${flag}: ${result.stderr}`);
        assert.match(result.stdout, firstLine);
        assert.match(result.stdout, /\nexit: /);
        assert.equal(result.stderr, '');
      }
    });
  }

  test('the general usage names every command', async () => {
    const { stdout } = await stepgate(['--help']);
    for (const [command] of COMMANDS) assert.match(stdout, new RegExp(`stepgate ${command[0]}`));
    assert.match(stdout, /stepgate --version/);
  });
});
