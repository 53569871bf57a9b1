/**
 * Bodies of execution targets (Step Functions and Argo alike): JSON media types in UTF-8, kept
 * exactly (numbers as written), a name twice in one object and nesting deeper than
 * MAX_JSON_DEPTH refused; the envelope that carries them; and the one rule by which an
 * Idempotency-Key compares a retried body with the first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isGatewayError } from '../../../src/errors.ts';
import { envelopeText } from '../../../src/targets/execution/envelope.ts';
import { MAX_JSON_DEPTH } from '../../../src/targets/execution/exact-json.ts';
import { bodyFingerprint, parseJsonBody, sameBody } from '../../../src/targets/execution/json-body.ts';
import { identity as testIdentity } from '../../audit/fixtures.ts';

const json = (text: string) => parseJsonBody('application/json', Buffer.from(text));

function refused(text: string, code = 'SG_ERR_INVALID_JSON'): string {
  try {
    json(text);
  } catch (err) {
    assert.ok(isGatewayError(err));
    assert.equal(err.code, code, text);
    assert.equal(err.status, 400);
    return err.detail;
  }
  assert.fail(`accepted ${text}`);
}

describe('parseJsonBody', () => {
  it('no body is undefined; JSON is parsed, numbers and strings kept as written', () => {
    assert.equal(parseJsonBody(undefined, undefined), undefined);
    assert.equal(parseJsonBody('text/plain', Buffer.alloc(0)), undefined);
    assert.equal(json('null'), null);
    // RFC 8259 §8.1: a parser may ignore a byte order mark.
    assert.deepEqual(json('\ufeff{}'), {});
    const text = '{"2":1.50,"a":{"x":[1,{"y":"}"}]},"b":"q\\"","1":12345678901234567890}';
    assert.equal(JSON.stringify(json(text)), '{"1":12345678901234567890,"2":1.50,"a":{"x":[1,{"y":"}"}]},"b":"q\\""}');
    assert.equal(JSON.stringify(json(' { "a" : [ 1.50 ] } ')), '{"a":[1.50]}', 'whitespace is not kept');
  });

  const mediaTypes: [string, string | undefined, Buffer, string][] = [
    ['no content type', undefined, Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['text/plain', 'text/plain', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['text/json', 'text/json', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['application/jsonx', 'application/jsonx', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['utf-16', 'application/json; charset=utf-16', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['latin1', 'application/json; charset=latin1', Buffer.from('{}'), 'SG_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['truncated', 'application/json', Buffer.from('{"a"'), 'SG_ERR_INVALID_JSON'],
    ['overlong UTF-8', 'application/json', Buffer.from([0x22, 0xc0, 0xaf, 0x22]), 'SG_ERR_INVALID_JSON'],
    ['bytes that are not UTF-8', 'application/json', Buffer.from([0x22, 0xff, 0x22]), 'SG_ERR_INVALID_JSON'],
  ];
  for (const [what, type, body, code] of mediaTypes) {
    it(`refuses ${what}`, () => assert.throws(() => parseJsonBody(type, body), { code }));
  }

  it('takes application/*+json with a UTF-8 charset', () => {
    assert.deepEqual(parseJsonBody('application/vnd.api+json; charset=utf-8', Buffer.from('{}')), {});
  });

  it('refuses a name twice in one object, at any depth, also when escaped differently', () => {
    assert.match(refused('{"a":1,"a":1}'), /the name "a" twice in one object/);
    assert.match(refused('{"a":1,"\\u0061":2}'), /the name "a" twice/);
    assert.match(refused('[{"x":{"b":1,"b":2}}]'), /the name "b" twice/);
    assert.deepEqual(json('[{"a":1},{"a":2}]'), [{ a: 1 }, { a: 2 }], 'the same name in two objects is fine');
  });

  it('refuses what RFC 8259 does not allow', () => {
    for (const text of ['{', '{"a":1,}', '[1,]', '01', '1.', '.5', '+1', "{'a':1}", '{"a" 1}', 'nul', '1 2', '"\u0001"', '"\\x"', 'NaN', ' ']) {
      refused(text);
    }
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} (SG_ERR_JSON_TOO_DEEP), and takes it up to there`, () => {
    assert.equal(MAX_JSON_DEPTH, 64);
    assert.doesNotThrow(() => json('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)));
    const deep = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);
    assert.match(refused(deep, 'SG_ERR_JSON_TOO_DEEP'), /more than 64 deep/);
  });
});

describe('the envelope', () => {
  const identity = testIdentity({ claims: { sub: 'alice', odd: '"\u2028\u0000\ud800' } });
  const request = { id: 'r1', method: 'POST', path: '/d', receivedAt: new Date(0) };

  it('carries the body with its numbers as written, and the caller as data', () => {
    const body = '{"v":1.50,"big":12345678901234567890}';
    const text = envelopeText(json(body), identity, request);
    assert.ok(text.startsWith(`{"body":${body},"caller":`));
    const parsed = JSON.parse(text) as { caller: { claims: { odd: string } }; request: { receivedAt: string } };
    assert.equal(parsed.caller.claims.odd, identity.claims['odd'], 'claims stay data');
    assert.equal(parsed.request.receivedAt, '1970-01-01T00:00:00.000Z');
  });

  it('carries no body as null', () => {
    assert.ok(envelopeText(undefined, identity, request).startsWith('{"body":null,"caller":'));
  });
});

describe('sameBody: the one rule an Idempotency-Key compares bodies by', () => {
  const identity = testIdentity();
  const request = { id: 'r1', method: 'POST', path: '/d', receivedAt: new Date(0) };
  const stored = (text: string | undefined) =>
    envelopeText(text === undefined ? undefined : json(text), identity, request);
  const same = (first: string | undefined, retry: string | undefined) =>
    sameBody('envelope', stored(first), retry === undefined ? undefined : json(retry));

  it('the same JSON is the same body: key order and whitespace do not matter', () => {
    assert.ok(same('{"a":1,"b":[1,2]}', '{"b":[1,2],"a":1}'));
    assert.ok(same('{"service":"orders","version":"1.4.2"}', '{"service": "orders", "version":"1.4.2"}\n'));
    assert.ok(same('{"s":"A"}', '{"s":"\\u0041"}'), 'string escapes do not matter');
    assert.ok(same(undefined, undefined));
    assert.ok(same(undefined, 'null'));
  });

  it('numbers count as written; values, array order and types do', () => {
    assert.ok(!same('{"id":9007199254740993}', '{"id":9007199254740992}'));
    assert.ok(!same('{"n":1.0}', '{"n":1}'));
    assert.ok(!same('{"a":1,"b":[1,2]}', '{"a":1,"b":[2,1]}'));
    assert.ok(!same('{"a":1}', '{"a":"1"}'));
    assert.ok(!same('{"a":1}', undefined));
    assert.equal(bodyFingerprint(json('{ "b" : 10.50, "a" : 1 }')), '{"a":1,"b":10.50}');
  });

  it('input: body compares the input itself (no body was sent as {})', () => {
    assert.ok(sameBody('body', '{"x":1}', { x: 1 }));
    assert.ok(sameBody('body', '{}', undefined));
    assert.ok(!sameBody('body', 'not json', { x: 1 }));
  });

  it('finds nothing in what is not an envelope', () => {
    for (const other of [undefined, 'not json', '[1]', '{"caller":{}}', '1']) {
      assert.ok(!sameBody('envelope', other, undefined), String(other));
    }
  });

  it('reads an envelope whose body is as deep as a body may be', () => {
    const deep = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    assert.ok(same(deep, deep));
  });
});
