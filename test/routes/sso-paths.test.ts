/** `rd`: only a path on this gateway; what is checked is what is sent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isGatewayError } from '../../src/errors.ts';
import { DEFAULT_RETURN, returnPath } from '../../src/routes/sso-paths.ts';

const ORIGIN = 'https://gateway.example.com';

describe('returnPath', () => {
  const accepted: [string | undefined, string][] = [
    [undefined, DEFAULT_RETURN],
    ['', DEFAULT_RETURN],
    ['/', '/'],
    ['/api/orders/42?x=1&y=%20z#frag', '/api/orders/42?x=1&y=%20z#frag'],
    ['/a/./b/../c', '/a/c'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['/ü', '/%C3%BC'],
    ['/.stepgate/login?rd=/x', DEFAULT_RETURN],
    ['/.stepgate/callback', DEFAULT_RETURN],
    ['/.stepgate/logout', DEFAULT_RETURN],
  ];
  for (const [rd, expected] of accepted) {
    it(`accepts ${JSON.stringify(rd)}`, () => assert.equal(returnPath(rd, ORIGIN), expected));
  }

  const refused = [
    'https://evil.example/',
    'http://gateway.example.com/',
    'https://gateway.example.com.evil.example/',
    '//evil.example',
    '///evil.example',
    '/\\evil.example',
    '\\/evil.example',
    '/\t/evil.example',
    '/\r\n/evil.example',
    '/\u0000',
    'javascript:alert(1)',
    'data:text/html,x',
    'evil.example',
    './x',
    '../x',
    '?x',
    '#x',
    '/a/..//evil.example',
    '/..//evil.example',
    `/${'a'.repeat(2048)}`,
    ' /x',
  ];
  for (const rd of refused) {
    it(`refuses ${JSON.stringify(rd)}`, () => {
      assert.throws(
        () => returnPath(rd, ORIGIN),
        (err) => isGatewayError(err) && err.code === 'SG_ERR_BAD_REQUEST',
      );
    });
  }
});
