/** Exact JSON bodies: kept as sent, numbers as written, duplicate keys and deep nesting refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envelopeBody, envelopeText } from '../../../src/targets/execution/envelope.ts';
import { MAX_JSON_DEPTH, parseJsonText, readJsonBody } from '../../../src/targets/execution/json-body.ts';
import { isGatewayError } from '../../../src/errors.ts';
import { identity as testIdentity } from '../../audit/fixtures.ts';

function refused(text: string): string {
  try {
    parseJsonText(text);
  } catch (err) {
    assert.ok(isGatewayError(err));
    assert.equal(err.code, 'SG_ERR_INVALID_JSON');
    return err.detail;
  }
  assert.fail(`accepted ${text}`);
}

describe('parseJsonText', () => {
  it('gives each top-level member’s value as its source text, in order, numbers as written', () => {
    const parsed = parseJsonText(' {"2": 1.50, "a" : {"x":[1,{"y":"}"}]}, "b":"q\\"", "1": 12345678901234567890} ');
    assert.deepEqual([...parsed.members!], [
      ['2', '1.50'],
      ['a', '{"x":[1,{"y":"}"}]}'],
      ['b', '"q\\""'],
      ['1', '12345678901234567890'],
    ]);
    assert.deepEqual(parsed.value, { 1: 12345678901234567890, 2: 1.5, a: { x: [1, { y: '}' }] }, b: 'q"' });
  });

  it('has no members for a body that is not an object', () => {
    for (const text of ['[1]', '"x"', '1', 'true', 'null']) assert.equal(parseJsonText(text).members, undefined);
  });

  it('refuses duplicate keys at any depth, also when escaped differently', () => {
    assert.match(refused('{"a":1,"a":1}'), /the key "a" twice/);
    assert.match(refused('{"a":1,"\\u0061":2}'), /the key "a" twice/);
    assert.match(refused('[{"x":{"b":1,"b":2}}]'), /the key "b" twice/);
    assert.doesNotThrow(() => parseJsonText('[{"a":1},{"a":2}]'), 'the same key in two objects is fine');
  });

  it('refuses what RFC 8259 does not allow', () => {
    for (const text of ['', '{', '{"a":1,}', '[1,]', '01', '1.', '.5', '+1', "{'a':1}", '{"a" 1}', 'nul', '1 2', '"\u0001"', '"\\x"', 'NaN']) {
      refused(text);
    }
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH}, and takes it up to there`, () => {
    assert.doesNotThrow(() => parseJsonText('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)));
    assert.match(refused('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)), /nested deeper/);
  });
});

describe('readJsonBody', () => {
  it('takes JSON media types only, UTF-8 only, and no body as none', () => {
    assert.equal(readJsonBody('application/json', Buffer.alloc(0)), undefined);
    assert.equal(readJsonBody('application/vnd.api+json; charset=utf-8', Buffer.from('{}'))?.text, '{}');
    assert.throws(() => readJsonBody('text/plain', Buffer.from('{}')), { code: 'SG_ERR_UNSUPPORTED_MEDIA_TYPE' });
    assert.throws(() => readJsonBody('application/json; charset=latin1', Buffer.from('{}')), { code: 'SG_ERR_UNSUPPORTED_MEDIA_TYPE' });
    assert.throws(() => readJsonBody('application/json', Buffer.from([0x22, 0xff, 0x22])), { code: 'SG_ERR_INVALID_JSON' });
  });
});

describe('the envelope', () => {
  const identity = testIdentity({ claims: { sub: 'alice', odd: '"\u2028\u0000\ud800' } });
  const request = { id: 'r1', method: 'POST', path: '/d', receivedAt: new Date(0) };

  it('splices the body in exactly, and gives it back exactly', () => {
    const body = '{"v":1.50,"big":12345678901234567890}';
    const text = envelopeText(body, identity, request);
    assert.ok(text.startsWith(`{"body":${body},"caller":`));
    assert.equal(envelopeBody(text), body);
    const parsed = JSON.parse(text) as { caller: { claims: { odd: string } }; request: { receivedAt: string } };
    assert.equal(parsed.caller.claims.odd, identity.claims.odd, 'claims stay data');
    assert.equal(parsed.request.receivedAt, '1970-01-01T00:00:00.000Z');
  });

  it('carries no body as null, and reads nothing from what is not an envelope', () => {
    assert.equal(envelopeBody(envelopeText(undefined, identity, request)), 'null');
    for (const other of [undefined, 'not json', '[1]', '{"caller":{}}']) assert.equal(envelopeBody(other), undefined);
  });
});
