import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stepgate } from '../support/run-cli.ts';

describe('stepgate usage', () => {
  test('no command → exit 2, usage on stderr', async () => {
    const result = await stepgate([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^stepgate: no command given\n\nusage:\n/);
    assert.match(result.stderr, /stepgate policy test FILE/);
    assert.equal(result.stdout, '');
  });

  test('an unknown command → exit 2 naming it, with usage', async () => {
    const result = await stepgate(['chek']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^stepgate: unknown command "chek"\n\nusage:\n/);
    assert.equal(result.stdout, '');
  });

  test('--help → exit 0, usage on stdout', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const result = await stepgate([flag]);
      assert.equal(result.code, 0, flag);
      assert.match(result.stdout, /^usage:\n {2}stepgate serve/);
    }
  });
});
