import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Identity } from '../../../src/identity/types.ts';
import {
  buildInput,
  MAX_INPUT_BYTES,
  parseJsonBody,
  sameBody,
} from '../../../src/targets/stepfunctions/input.ts';

const identity: Identity = {
  issuer: 'ci',
  iss: 'https://issuer.example.com',
  sub: 'alice',
  clientId: undefined,
  scopes: ['deploy:start'],
  roles: [],
  groups: [],
  claims: { sub: 'alice', weird: 'a"\n\u0000\u2028' },
  authMethod: 'bearer',
  tokenId: 'jti-1',
  expiresAt: 0,
};
const request = { id: 'req-1', method: 'POST', path: '/workflows/deploy', receivedAt: new Date(0) };

describe('request bodies', () => {
  it('no body is undefined; JSON is parsed', () => {
    assert.equal(parseJsonBody(undefined, undefined), undefined);
    assert.equal(parseJsonBody('text/plain', Buffer.alloc(0)), undefined);
    // Numbers are kept as their source text (exact-json.ts), and written back as they came.
    assert.equal(JSON.stringify(parseJsonBody('application/json', Buffer.from('{"a":[1.50]}'))), '{"a":[1.50]}');
    assert.equal(parseJsonBody('application/json', Buffer.from('null')), null);
    // RFC 8259 §8.1: a parser may ignore a byte order mark.
    assert.deepEqual(parseJsonBody('application/json', Buffer.from('\ufeff{}')), {});
  });

  const refused: [string, string | undefined, Buffer, string][] = [
    ['no content type', undefined, Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['text/json', 'text/json', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['application/jsonx', 'application/jsonx', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['utf-16', 'application/json; charset=utf-16', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['truncated', 'application/json', Buffer.from('{"a"'), 'SG_ERR_INVALID_JSON'],
    ['overlong UTF-8', 'application/json', Buffer.from([0x22, 0xc0, 0xaf, 0x22]), 'SG_ERR_INVALID_JSON'],
  ];
  for (const [what, type, body, code] of refused) {
    it(`refuses ${what}`, () => assert.throws(() => parseJsonBody(type, body), { code }));
  }
});

describe('execution input', () => {
  it('the envelope is valid JSON whatever the claims hold', () => {
    const input = buildInput('envelope', { a: 1 }, identity, request);
    const parsed = JSON.parse(input);
    assert.equal(parsed.caller.claims.weird, 'a"\n\u0000\u2028');
    assert.deepEqual(parsed.request, {
      id: 'req-1',
      method: 'POST',
      path: '/workflows/deploy',
      receivedAt: '1970-01-01T00:00:00.000Z',
    });
    assert.equal(parsed.caller.clientId, null);
  });

  it('body mode is the body, or {} for none', () => {
    assert.equal(buildInput('body', [1, 'x'], identity, request), '[1,"x"]');
    assert.equal(buildInput('body', undefined, identity, request), '{}');
  });

  it('counts UTF-8 bytes against 256 KiB', () => {
    const fits = 'é'.repeat((MAX_INPUT_BYTES - 2) / 2);
    assert.equal(Buffer.byteLength(buildInput('body', fits, identity, request)), MAX_INPUT_BYTES);
    assert.throws(() => buildInput('body', `${fits}a`, identity, request), {
      code: 'SG_ERR_INPUT_TOO_LARGE',
      status: 413,
    });
  });

  it('compares bodies as JSON values, ignoring the envelope request part', () => {
    const stored = buildInput('envelope', { a: 1, b: [1, 2] }, identity, request);
    assert.ok(sameBody('envelope', stored, { b: [1, 2], a: 1 }));
    assert.ok(!sameBody('envelope', stored, { a: 1, b: [2, 1] }));
    assert.ok(!sameBody('envelope', stored, { a: '1', b: [1, 2] }));
    assert.ok(sameBody('envelope', buildInput('envelope', undefined, identity, request), undefined));
    assert.ok(sameBody('body', '{"x":1}', { x: 1 }));
    assert.ok(!sameBody('body', 'not json', { x: 1 }));
  });
});
