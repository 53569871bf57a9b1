/**
 * Records of one cached token share one caller: a frozen identity (the verified-token cache's)
 * gets its `caller` built once and deeply frozen, and the hash chain serializes deeply frozen
 * data once. Neither may change a byte of what is written or hashed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson as canonicalJSON } from '../../src/canonical-json.ts';
import { chainRecord, GENESIS_HASH } from '../../src/audit/chain.ts';
import { buildAuditRecord } from '../../src/audit/record.ts';
import { identity, input } from './fixtures.ts';

const claims = ['email', 'repository', 'realm_access.roles'];

describe('shared audit caller', () => {
  it('is shared from the second record of a frozen identity on, deeply frozen, equal to a fresh one', () => {
    const cached = Object.freeze(identity());
    const first = buildAuditRecord(input({ identity: cached }), { claims });
    assert.ok(!Object.isFrozen(first.caller), 'seen once: nothing kept');
    const second = buildAuditRecord(input({ identity: cached, requestId: 'req-2' }), { claims });
    const third = buildAuditRecord(input({ identity: cached, requestId: 'req-3' }), { claims });
    assert.equal(third.caller, second.caller);
    assert.ok(Object.isFrozen(second.caller) && Object.isFrozen(second.caller!.scopes));
    assert.ok(Object.isFrozen(second.caller!.claims['realm_access.roles']));
    assert.deepEqual(second.caller, first.caller);
    const fresh = buildAuditRecord(input({ identity: identity() }), { claims });
    assert.deepEqual(second.caller, fresh.caller);
    assert.notEqual(fresh.caller, buildAuditRecord(input({ identity: identity() }), { claims }).caller);
  });

  it('is rebuilt for another audit.claims list', () => {
    const cached = Object.freeze(identity());
    buildAuditRecord(input({ identity: cached }), { claims });
    const a = buildAuditRecord(input({ identity: cached }), { claims });
    const b = buildAuditRecord(input({ identity: cached }), { claims: ['email'] });
    assert.deepEqual(Object.keys(b.caller!.claims), ['email']);
    assert.notDeepEqual(a.caller, b.caller);
  });

  it('hashes exactly as an unshared record does', () => {
    const cached = Object.freeze(identity());
    const plain = buildAuditRecord(input({ identity: identity() }), { claims });
    for (let i = 0; i < 3; i++) {
      const shared = buildAuditRecord(input({ identity: cached }), { claims });
      assert.equal(chainRecord(shared, GENESIS_HASH).hash, chainRecord(plain, GENESIS_HASH).hash);
    }
  });
});

describe('canonical JSON of frozen data', () => {
  it('is the same whether or not the data is frozen', () => {
    const data = () => ({ b: [1, 'x', { d: true }], a: { z: null, y: 'é"' } });
    const frozen = Object.freeze({ ...data(), b: Object.freeze(data().b), a: Object.freeze(data().a) });
    assert.equal(canonicalJSON(frozen), canonicalJSON(data()));
    assert.equal(canonicalJSON(frozen), canonicalJSON(frozen));
  });

  it('is not remembered for a frozen object with something mutable inside', () => {
    const inner = { n: 1 };
    const outer = Object.freeze({ inner });
    assert.equal(canonicalJSON(outer), '{"inner":{"n":1}}');
    inner.n = 2;
    assert.equal(canonicalJSON(outer), '{"inner":{"n":2}}');
  });
});
