import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  base32,
  callerTag,
  executionName,
  idempotencyKey,
  startedBy,
} from '../../../src/targets/execution/naming.ts';
import { executionArnFor, parseExecutionArn } from '../../../src/targets/stepfunctions/naming.ts';

const alice = { issuer: 'ci', sub: 'alice' };
const name = (
  key: string | undefined,
  identity = alice,
  route = 'deploy',
  requestId = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
) => executionName({ identity, route, key, requestId });

describe('execution names', () => {
  it('are at most 80 characters of [0-9A-Za-z_-] (valid for Express workflows too)', () => {
    for (const n of [
      name('k'),
      name('k'.repeat(255)),
      name(undefined),
      name(undefined, alice, 'r', 'x'.repeat(200)),
    ]) {
      assert.ok(n.length <= 80, n);
      assert.match(n, /^[0-9A-Za-z_-]+$/);
    }
  });

  it('are the same for the same caller, route and key, and differ when any of them does', () => {
    assert.equal(name('key-1'), name('key-1'));
    assert.notEqual(name('key-1'), name('key-2'));
    assert.notEqual(name('key-1'), name('key-1', { issuer: 'ci', sub: 'bob' }));
    assert.notEqual(name('key-1'), name('key-1', { issuer: 'other', sub: 'alice' }));
    assert.notEqual(name('key-1'), name('key-1', alice, 'deploy-2'));
  });

  it('cannot be made to collide by moving text between issuer, sub, route and key', () => {
    assert.notEqual(name('b', { issuer: 'ci', sub: 'a' }), name('', { issuer: 'ci', sub: 'a\0b' }));
    assert.notEqual(name('k', alice, 'a\0b'), name('b\0k', alice, 'a'));
  });

  it('without a key, name the request', () => {
    assert.match(name(undefined), /^[a-z2-7]{26}-r0b1c2d3e4f5061728394a5b6c7d8e9f0$/);
    assert.equal(name(undefined).slice(0, 26), callerTag(alice));
  });

  it('carry the caller: startedBy tells owners from others', () => {
    assert.ok(startedBy(name('k'), alice));
    assert.ok(startedBy(name(undefined), alice));
    assert.ok(!startedBy(name('k'), { issuer: 'ci', sub: 'bob' }));
    assert.ok(!startedBy(name('k'), { issuer: 'other', sub: 'alice' }));
    assert.ok(!startedBy(`${callerTag(alice)}x`, alice), 'the tag must be followed by its separator');
  });

  it('base32 matches RFC 4648 test vectors (lowercase, unpadded)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [input, output] of vectors) assert.equal(base32(Buffer.from(input), 100), output);
  });
});

describe('Idempotency-Key', () => {
  const key = (...values: string[]) => idempotencyKey(values.flatMap((v) => ['Idempotency-Key', v]));
  it('takes bare tokens and RFC 8941 strings, trimmed', () => {
    assert.equal(idempotencyKey(['Host', 'x']), undefined);
    assert.equal(key('abc-123'), 'abc-123');
    assert.equal(key('  abc  '), 'abc');
    assert.equal(key('"abc"'), 'abc');
    assert.equal(key('"a \\"quoted\\" \\\\ key"'), 'a "quoted" \\ key');
    assert.equal(key('k'.repeat(255))?.length, 255);
  });

  const refused: [string, string[]][] = [
    ['empty', ['']],
    ['empty quoted', ['""']],
    ['too long', ['k'.repeat(256)]],
    ['unterminated quote', ['"abc']],
    ['bad escape', ['"a\\b"']],
    ['control characters', ['a\tb']],
    ['non-ASCII', ['clé']],
    ['repeated', ['a', 'a']],
  ];
  for (const [what, values] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => key(...values), { code: 'SG_ERR_BAD_IDEMPOTENCY_KEY', status: 400 });
    });
  }
});

describe('execution ARNs', () => {
  it('parse into state machine and name; Express and foreign ARNs do not', () => {
    const sm = 'arn:aws:states:eu-west-1:123456789012:stateMachine:deploy';
    const arn = executionArnFor(sm, 'n-1');
    assert.equal(arn, 'arn:aws:states:eu-west-1:123456789012:execution:deploy:n-1');
    assert.deepEqual(parseExecutionArn(arn), { stateMachineArn: sm, name: 'n-1' });
    assert.equal(parseExecutionArn('arn:aws:states:eu-west-1:123456789012:express:deploy:n:uuid'), undefined);
    assert.equal(parseExecutionArn('arn:aws:states:eu-west-1:123456789012:execution:deploy:a/b'), undefined);
    assert.equal(parseExecutionArn(`${arn}:extra`), undefined);
    assert.equal(parseExecutionArn('arn:aws-cn:states:cn-north-1:123456789012:execution:d:n')?.name, 'n');
  });
});
