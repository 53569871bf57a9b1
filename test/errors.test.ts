/** The error catalog: stable, unique codes, each documented for users, each with a sane status. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, GatewayError } from '../src/errors.ts';
import { problemFor } from '../src/plugins/errors.ts';

describe('the error catalog', () => {
  const codes = Object.keys(ERRORS) as (keyof typeof ERRORS)[];

  it('has unique SG_ERR_ codes with 4xx/5xx statuses', () => {
    assert.equal(new Set(codes).size, codes.length);
    for (const code of codes) {
      assert.match(code, /^SG_ERR_[A-Z_]+$/);
      assert.ok(ERRORS[code].status >= 400 && ERRORS[code].status < 600, code);
    }
  });

  it('documents every code in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const code of codes) assert.ok(readme.includes(code), `${code} is not in README.md`);
  });

  it('renders a problem document without the cause', () => {
    const err = new GatewayError('SG_ERR_INVALID_TOKEN', 'bad signature', {
      cause: new Error('secret internals'),
    });
    const problem = problemFor(err, 'req-1');
    assert.deepEqual(problem, {
      type: 'urn:stepgate:problem:invalid_token',
      title: 'Invalid token',
      status: 401,
      detail: 'bad signature',
      code: 'SG_ERR_INVALID_TOKEN',
      requestId: 'req-1',
    });
  });
});
