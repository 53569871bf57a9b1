import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isGatewayError } from '../../src/errors.ts';
import { isCanonical, normalizeRequestTarget } from '../../src/policy/normalize-path.ts';

const OURS: ReadonlySet<string> = new Set(['gateway.example.com', 'localhost:8080']);

/** [request-target, canonical path] — accepted. */
const ACCEPTED: readonly (readonly [string, string])[] = [
  ['/', '/'],
  ['/api/orders', '/api/orders'],
  ['/api/orders/', '/api/orders/'],
  ['/API/Orders', '/API/Orders'], // case is kept: routes are case-sensitive
  ['/api//orders', '/api/orders'],
  ['//api///orders//', '/api/orders/'],
  ['//evil.example.com/x', '/evil.example.com/x'],
  ['/api/./orders', '/api/orders'],
  ['/api/orders/.', '/api/orders/'],
  ['/api/x/../orders', '/api/orders'],
  ['/api/orders/..', '/api/'],
  ['/a/b/../../', '/'],
  ['/a/..', '/'],
  ['/a/%2e%2e/b', '/b'],
  ['/a/.%2E/b', '/b'],
  ['/a/%2E/b', '/a/b'],
  ['/a/...', '/a/...'],
  ['/a/..b/c', '/a/..b/c'],
  ['/.well-known/jwks.json', '/.well-known/jwks.json'],
  ['/a/%7Eb', '/a/~b'],
  ['/a/%7eb/%41%7a%30%2D%5F', '/a/~b/Az0-_'],
  ['/a/%20b', '/a/%20b'],
  ['/a/%3f/%23/%25', '/a/%3F/%23/%25'],
  // Double encoding is decoded once, never twice: `%25` is the escape, `2e` literal data whose
  // case is part of the path (uppercasing it would name another resource).
  ['/a/%252e%252e/', '/a/%252e%252e/'],
  ['/a/%252E%252f', '/a/%252E%252f'],
  ['/a/%2541', '/a/%2541'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/caf%C3%A9/%E2%82%AC/%F0%9F%98%80', '/caf%C3%A9/%E2%82%AC/%F0%9F%98%80'],
  ['/café/€', '/caf%C3%A9/%E2%82%AC'], // raw Unicode (CLI input) is UTF-8 encoded
  ['/a"b<c>{d}|^`[e]', '/a%22b%3Cc%3E%7Bd%7D%7C%5E%60%5Be%5D'],
  ["/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"],
  [
    '/executions/arn:aws:states:us-east-1:1:execution:x:y',
    '/executions/arn:aws:states:us-east-1:1:execution:x:y',
  ],
  ['/a/%21', '/a/%21'], // an escaped reserved character stays escaped
];

/** [request-target, canonical path, query] — the query is passed through untouched. */
const WITH_QUERY: readonly (readonly [string, string, string])[] = [
  ['/a/%7Eb/../c?x=1', '/a/c', '?x=1'],
  ['/a?', '/a', '?'],
  ['/a?x=%2F..%2f&y=;\\', '/a', '?x=%2F..%2f&y=;\\'],
  ['/a//b?x=/../', '/a/b', '?x=/../'],
  ['/?q=a?b', '/', '?q=a?b'],
  ['http://gateway.example.com/api/./orders?x=1', '/api/orders', '?x=1'],
  ['HTTPS://Gateway.Example.COM:443/a', '/a', ''],
  ['http://localhost:8080', '/', ''],
  ['http://localhost:8080?x', '/', '?x'],
];

/** [request-target, why] — every one a 400 SG_ERR_BAD_PATH. */
const REFUSED: readonly (readonly [string, string])[] = [
  ['', 'empty'],
  ['*', 'asterisk-form'],
  ['gateway.example.com:443', 'authority-form'],
  ['api/orders', 'relative'],
  ['http://evil.example.com/api', 'absolute-form for another authority'],
  ['http://gateway.example.com@evil.example.com/', 'userinfo in the authority'],
  ['http://localhost:9090/a', 'our host on another port'],
  ['ftp://gateway.example.com/a', 'another scheme'],
  ['/api/orders/..%2f..%2fadmin', 'encoded slash (lowercase)'],
  ['/api/orders%2Fadmin', 'encoded slash'],
  ['/api%5cadmin', 'encoded backslash'],
  ['/api\\admin', 'raw backslash'],
  ['/api/orders%00', 'encoded NUL'],
  ['/api/orders\u0000', 'raw NUL'],
  ['/a%0d%0aX-Injected:%201', 'encoded CR LF'],
  ['/a\r\nb', 'raw CR LF'],
  ['/a\tb', 'raw tab'],
  ['/a%7f', 'encoded DEL'],
  ['/a%c2%85', 'encoded C1 control (NEL)'],
  ['/a/..;/b', 'Tomcat ..;/ bypass'],
  ['/a;jsessionid=1/b', 'path parameter'],
  ['/a/%3B/b', 'encoded semicolon'],
  ['/a#frag', 'fragment'],
  ['/a?x=1#frag', 'fragment after the query'],
  ['/a?x=\r\n', 'control character in the query'],
  ['/%c0%af', 'overlong UTF-8 for "/"'],
  ['/%c0%ae%c0%ae/', 'overlong UTF-8 for "."'],
  ['/%e0%80%af', 'overlong three-byte UTF-8'],
  ['/%ed%a0%80', 'UTF-8 surrogate'],
  ['/%f4%90%80%80', 'above U+10FFFF'],
  ['/%c3', 'truncated UTF-8'],
  ['/%c3/%a9', 'UTF-8 split by a slash'],
  ['/%c3x', 'UTF-8 lead without continuation'],
  ['/%a9', 'lone continuation byte'],
  ['/%ff', 'invalid UTF-8 byte'],
  ['/a%', 'truncated escape'],
  ['/a%2', 'truncated escape'],
  ['/a%zz', 'non-hex escape'],
  ['/a%%32%65', 'escape of an escape'],
  ['/..', 'climbs above /'],
  ['/a/../..', 'climbs above /'],
  ['/%2e%2e/etc/passwd', 'encoded climb'],
  ['/a/.%2e/.%2E/b', 'encoded climb'],
  ['/\ud800', 'lone surrogate'],
];

describe('normalizeRequestTarget', () => {
  for (const [target, path] of ACCEPTED) {
    test(`accepts ${JSON.stringify(target)} as ${path}`, () => {
      assert.deepEqual(normalizeRequestTarget(target, OURS), { path, search: '' });
      assert.equal(isCanonical(path), true, 'the output is canonical');
      assert.deepEqual(normalizeRequestTarget(path, OURS), { path, search: '' }, 'idempotent');
    });
  }

  for (const [target, path, search] of WITH_QUERY) {
    test(`splits ${JSON.stringify(target)}`, () => {
      const out = normalizeRequestTarget(target, OURS);
      assert.deepEqual({ path: out.path, search: out.search }, { path, search });
    });
  }

  test('an absolute-form target names its authority, which replaces Host (RFC 9112 §3.2.2)', () => {
    assert.equal(normalizeRequestTarget('HTTPS://Gateway.Example.COM:443/a', OURS).authority, 'gateway.example.com:443');
    assert.equal(normalizeRequestTarget('/a', OURS).authority, undefined);
  });

  for (const [target, why] of REFUSED) {
    test(`refuses ${JSON.stringify(target)} (${why})`, () => {
      assert.throws(
        () => normalizeRequestTarget(target, OURS),
        (err: unknown) => isGatewayError(err) && err.code === 'SG_ERR_BAD_PATH' && err.status === 400,
      );
    });
  }

  test('refuses every absolute-form target when no authority is ours', () => {
    assert.throws(() => normalizeRequestTarget('http://gateway.example.com/a'), { code: 'SG_ERR_BAD_PATH' });
  });

  test('returns the same string for a plain path (no copy on the hot path)', () => {
    const target = '/api/orders/42';
    assert.equal(normalizeRequestTarget(target).path, target);
  });
});

describe('isCanonical', () => {
  const cases: readonly (readonly [string, boolean])[] = [
    ['/api/orders', true],
    ['/api/orders/', true],
    ['/caf%C3%A9', true],
    ['/caf%c3%a9', false],
    ['/a/%7Eb', false],
    ['/a//b', false],
    ['/a/./b', false],
    ['/a/../b', false],
    ['/a?x=1', false],
    ['a', false],
    ['/a%2Fb', false],
  ];
  for (const [path, expected] of cases) {
    test(`${path} → ${expected}`, () => assert.equal(isCanonical(path), expected));
  }
});
