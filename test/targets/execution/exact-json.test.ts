/** exact-json.ts as tables: what the scan refuses, when numbers need their source text, round trips. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson as canonicalExactJson } from '../../../src/canonical-json.ts';
import { parseExactJson, scanJson } from '../../../src/targets/execution/exact-json.ts';

describe('scanJson', () => {
  const repeated = [
    '{"a":1,"a":1}',
    String.raw`{"a\\":1,"a\\":2}`,
    String.raw`{"a\"b":1,"a\u0022b":2}`,
    String.raw`{"x":"\\\"","x":1}`,
    String.raw`{"x":"\\","y":"\\","x":2}`,
    '{"o":{"k":[{"k":1}],"k":2}}',
  ];
  for (const text of repeated) {
    it(`refuses a repeated name: ${text}`, () => assert.throws(() => scanJson(text), { code: 'SG_ERR_INVALID_JSON' }));
  }
  const fine = ['{"a":{"a":1},"b":{"a":2}}', String.raw`{"x":"\\","y":1}`, String.raw`{"a\\":1,"a":2}`, '["a","a"]', '{"a":"}","b":"{"}'];
  for (const text of fine) it(`takes ${text}`, () => assert.doesNotThrow(() => scanJson(text)));

  it('counts depth of arrays and objects, not of brackets inside strings', () => {
    assert.doesNotThrow(() => scanJson(`${'['.repeat(3)}"[[[[{{{{"${']'.repeat(3)}`, 3));
    assert.throws(() => scanJson('[[[[]]]]', 3), { code: 'SG_ERR_JSON_TOO_DEEP' });
  });

  const numbers: [string, boolean][] = [
    ['[1, -2, 0.5, 1.5e-7, 123456789]', false],
    ['[10.50]', true],
    ['[1e2]', true],
    ['[-0]', true],
    ['[12345678901234567891]', true],
    ['[9007199254740993]', true],
    ['{"10.50":"1e400"}', false],
  ];
  for (const [text, lossy] of numbers) {
    it(`${text}: ${lossy ? 'needs' : 'does not need'} source text`, () => assert.equal(scanJson(text), lossy));
  }
});

describe('parseExactJson and canonicalExactJson', () => {
  it('write numbers back as written, keys sorted', () => {
    const value = parseExactJson('{ "b" : [1e400, 10.50, 2], "a" : -0 }');
    assert.equal(JSON.stringify(value), '{"b":[1e400,10.50,2],"a":-0}');
    assert.equal(canonicalExactJson(value), '{"a":-0,"b":[1e400,10.50,2]}');
    assert.equal(canonicalExactJson(parseExactJson('{"a":1}')), '{"a":1}');
  });
});
