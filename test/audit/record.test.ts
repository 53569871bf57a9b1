import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildAuditRecord, serializeRecord } from '../../src/audit/record.ts';
import { CAPS, looksLikeToken, REDACTED_MARKER, TRUNCATED_MARKER } from '../../src/audit/sanitize.ts';
import { identity, input, JWT } from './fixtures.ts';

/** True when `line` holds a raw C0 control, DEL, C1 control, U+2028 or U+2029. */
function hasRawBreaker(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

describe('buildAuditRecord', () => {
  test('has the shape of DESIGN.md, in its field order', () => {
    const record = buildAuditRecord(input({ decision: 'deny', reason: 'policy_denied', failed: 'scopes' }), {
      claims: ['repository'],
    });
    assert.deepEqual(record, {
      v: 1,
      time: '2026-11-23T03:21:37.123Z',
      requestId: 'req-1',
      decision: 'deny',
      reason: 'policy_denied',
      failed: 'scopes',
      status: 202,
      durationMs: 12.3,
      http: {
        method: 'POST',
        path: '/workflows/deploy',
        route: 'deploy',
        sourceIp: '10.0.0.7',
        userAgent: 'curl/8.5',
      },
      caller: {
        issuer: 'keycloak',
        iss: 'https://sso.example.com/realms/platform',
        sub: 'f7c1a3e0-alice',
        clientId: 'ci-bot',
        authMethod: 'bearer',
        scopes: ['deploy:start', 'orders:read'],
        roles: ['deployer'],
        groups: ['/platform'],
        tokenId: 'jti-0001',
        claims: { repository: 'acme/app' },
      },
      target: { name: 'deploy', type: 'stepfunctions' },
      policyVersion: 'a'.repeat(64),
    });
    assert.deepEqual(Object.keys(record), [
      'v',
      'time',
      'requestId',
      'decision',
      'reason',
      'failed',
      'status',
      'durationMs',
      'http',
      'caller',
      'target',
      'policyVersion',
    ]);
  });

  test('an anonymous request has no caller; optional fields are absent, not undefined', () => {
    const record = buildAuditRecord(
      input({ identity: undefined, target: undefined, http: { method: 'GET', path: '/x', sourceIp: '::1' } }),
      { claims: ['email'] },
    );
    assert.equal('caller' in record, false);
    assert.equal('target' in record, false);
    assert.equal('failed' in record, false);
    assert.equal('route' in record.http, false);
    assert.equal(record.http.userAgent, '');
  });

  test('copies only the configured claims; dotted paths and dotted keys both work', () => {
    const who = identity({
      claims: {
        email: 'alice@example.com',
        secret_stuff: 'not configured',
        realm_access: { roles: ['deployer'] },
        'https://example.com/tenant': 'acme',
        host: 'api.example.com',
        version: '1.2.3',
      },
    });
    const record = buildAuditRecord(input({ identity: who }), {
      claims: [
        'email',
        'realm_access.roles',
        'https://example.com/tenant',
        'missing',
        'host',
        'version',
        'realm_access.nope.x',
      ],
    });
    assert.deepEqual(record.caller?.claims, {
      email: 'alice@example.com',
      'realm_access.roles': ['deployer'],
      'https://example.com/tenant': 'acme',
      host: 'api.example.com',
      version: '1.2.3',
    });
  });

  test('does not walk the prototype chain', () => {
    const record = buildAuditRecord(input(), {
      claims: ['constructor', '__proto__', 'toString', 'email.length'],
    });
    assert.deepEqual(record.caller?.claims, {});
  });

  test('a claim that looks like a JWT is dropped, also inside arrays and objects', () => {
    const who = identity({
      claims: {
        email: 'alice@example.com',
        id_token: JWT,
        bearer: `Bearer ${JWT}`,
        unsigned: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
        opaque: `${'A'.repeat(20)}.${'b'.repeat(20)}.${'c'.repeat(20)}`,
        list: ['ok', JWT],
        nested: { token: JWT, keep: 'yes' },
      },
    });
    const record = buildAuditRecord(input({ identity: who }), {
      claims: ['email', 'id_token', 'bearer', 'unsigned', 'opaque', 'list', 'nested'],
    });
    assert.deepEqual(record.caller?.claims, {
      email: 'alice@example.com',
      list: ['ok'],
      nested: { keep: 'yes' },
    });
  });

  test('no field can hold a token: JWTs in path, query, user agent, request id and errors are redacted', () => {
    const record = buildAuditRecord(
      input({
        requestId: JWT,
        failed: `claims.repository ${JWT}`,
        http: {
          method: 'GET',
          path: `/api/tokens/${JWT}/x?access_token=${JWT}&code=abc`,
          sourceIp: '10.0.0.7',
          userAgent: `curl/8.5 (${JWT})`,
        },
        identity: identity({ tokenId: JWT, sub: JWT }),
        target: { name: 'orders', type: 'http', error: `upstream said Bearer ${JWT}` },
      }),
      { claims: [] },
    );
    const line = serializeRecord(record);
    for (const part of JWT.split('.')) assert.equal(line.includes(part), false, `line holds ${part}`);
    assert.equal(record.http.path, `/api/tokens/${REDACTED_MARKER}/x`);
    assert.equal(record.http.userAgent, `curl/8.5 (${REDACTED_MARKER})`);
    assert.equal(record.requestId, REDACTED_MARKER);
    assert.equal(record.caller?.tokenId, REDACTED_MARKER);
  });

  // Found by the property test (record-writer.property.test.ts): a token glued to other
  // base64url characters was not recognised, and a `__proto__` claim vanished from the record.
  test('a token glued to other base64url characters is redacted too', () => {
    const record = buildAuditRecord(
      input({ http: { method: 'GET', path: '/x', sourceIp: '10.0.0.7', userAgent: `curl/8.5 x${JWT}` } }),
      { claims: [] },
    );
    assert.equal(record.http.userAgent, `curl/8.5 x${REDACTED_MARKER}`);
    assert.equal(looksLikeToken(`a${JWT}`), true);
  });

  test('a claim named __proto__ is recorded like any other', () => {
    const claims = JSON.parse('{"__proto__":"x","nested":{"__proto__":{"a":1}}}') as Record<string, unknown>;
    const record = buildAuditRecord(input({ identity: identity({ claims }) }), { claims: ['__proto__', 'nested'] });
    assert.equal(serializeRecord(record).includes('"claims":{"__proto__":"x","nested":{"__proto__":{"a":1}}}'), true);
  });

  test('looksLikeToken does not flag host names, versions or emails', () => {
    for (const value of [
      'api.example.com',
      '1.2.3',
      'eyewitness.example.com',
      'a.b@c.d',
      'refs/heads/main',
    ]) {
      assert.equal(looksLikeToken(value), false, value);
    }
    assert.equal(looksLikeToken(JWT), true);
  });
});

describe('caps', () => {
  test('long strings are cut with a marker', () => {
    const record = buildAuditRecord(
      input({
        requestId: 'r'.repeat(10_000),
        http: {
          method: 'X'.repeat(100),
          path: `/${'p'.repeat(10_000)}`,
          sourceIp: '1'.repeat(500),
          userAgent: 'u'.repeat(10_000),
        },
      }),
      { claims: [] },
    );
    assert.equal(record.requestId, 'r'.repeat(CAPS.field) + TRUNCATED_MARKER);
    assert.equal(record.http.path.length, CAPS.path + TRUNCATED_MARKER.length);
    assert.equal(record.http.userAgent.length, CAPS.userAgent + TRUNCATED_MARKER.length);
    assert.ok(record.http.method.endsWith(TRUNCATED_MARKER));
    assert.ok(record.http.sourceIp.endsWith(TRUNCATED_MARKER));
  });

  test('a cut never splits a surrogate pair', () => {
    const ua = 'a'.repeat(CAPS.userAgent - 1) + '😀'.repeat(10);
    const record = buildAuditRecord(
      input({ http: { method: 'GET', path: '/', sourceIp: '::1', userAgent: ua } }),
      {
        claims: [],
      },
    );
    assert.equal(record.http.userAgent, 'a'.repeat(CAPS.userAgent - 1) + TRUNCATED_MARKER);
    assert.equal(serializeRecord(record).includes('\\ud83d'), false);
  });

  test('lists, claim arrays, claim objects, depth and the claims total are bounded', () => {
    const many = Array.from({ length: 500 }, (_, i) => `s${i}`);
    const wide = Object.fromEntries(many.map((k) => [k, 1]));
    const deep = { a: { b: { c: { d: { e: { f: 'deep' } } } } } };
    const who = identity({
      scopes: many,
      claims: {
        many,
        wide,
        deep,
        big1: 'x'.repeat(200),
        blob: Array.from({ length: 64 }, () => 'y'.repeat(250)),
      },
    });
    const record = buildAuditRecord(input({ identity: who }), {
      claims: ['many', 'wide', 'deep', 'blob', 'big1'],
    });
    const caller = record.caller!;
    assert.equal(caller.scopes.length, CAPS.items + 1);
    assert.equal(caller.scopes.at(-1), `…[+${500 - CAPS.items} more]`);
    const claims = caller.claims as Record<string, unknown>;
    assert.equal((claims['many'] as unknown[]).length, CAPS.items + 1);
    assert.equal(Object.keys(claims['wide'] as object).length, CAPS.items + 1);
    assert.deepEqual(claims['deep'], { a: { b: { c: { d: TRUNCATED_MARKER } } } });
    assert.equal(claims['blob'], TRUNCATED_MARKER, 'over the claims budget');
    assert.ok(JSON.stringify(claims).length < CAPS.claimsChars + 1000);
  });
});

describe('escaping', () => {
  const hostile = 'evil\n{"v":1,"decision":"allow"}\r\u2028\u2029\u0000\u001b[31m\u0085\u007f\ud800end';

  test('hostile user agent, path and claim values cannot break the one-line format', () => {
    const record = buildAuditRecord(
      input({
        http: { method: 'GET', path: `/a/${hostile}`, route: 'r', sourceIp: '10.0.0.7', userAgent: hostile },
        identity: identity({ claims: { email: hostile, [hostile]: 'x' } }),
      }),
      { claims: ['email', hostile] },
    );
    const line = serializeRecord(record);
    assert.equal(hasRawBreaker(line), false, 'a raw control or line separator in the line');
    assert.equal(line.includes('\ud800'), false, 'a lone surrogate in the line');
    assert.match(line, /\\u2028\\u2029/);
    assert.deepEqual(JSON.parse(line), record, 'escaping must not change the value');
    assert.equal(record.http.userAgent, hostile, 'values are kept, only escaped in the line');
  });
});
