/** The error catalog: stable, unique codes, each documented for users, each with a sane status. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, GatewayError } from '../src/errors.ts';
import { problemFor } from '../src/plugins/errors.ts';

describe('the error catalog', () => {
  const codes = Object.keys(ERRORS) as (keyof typeof ERRORS)[];

  // (The codes are an object's keys, so unique by construction; what a user tells apart is the title.)
  it('gives every SG_ERR_ code a 4xx/5xx status and a title no other code shares', () => {
    const titled = new Map<string, string>();
    for (const code of codes) {
      assert.match(code, /^SG_ERR_[A-Z_]+$/);
      assert.ok(ERRORS[code].status >= 400 && ERRORS[code].status < 600, code);
      const { title } = ERRORS[code];
      assert.equal(titled.get(title), undefined, `${code} has the title of ${titled.get(title)}: "${title}"`);
      titled.set(title, code);
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
