/**
 * Header hygiene remembers its verdict per header name and the encoded identity headers per
 * frozen identity (src/targets/headers.ts, identity-headers.ts): what is remembered must be what
 * a fresh judgement says, per kind of peer, in any order of calls.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardedHeaders, isSpoofableHeader, responseHeaders } from '../../src/targets/headers.ts';
import { identityHeaders } from '../../src/targets/identity-headers.ts';
import type { Identity } from '../../src/identity/types.ts';

const identity = (sub: string): Identity => ({
  issuer: 'kc', iss: 'https://kc', sub, clientId: 'cli', scopes: ['a', 'b c'], roles: [], groups: ['/g'], claims: { email: 'e@x' },
  authMethod: 'bearer', tokenId: 't', expiresAt: 2e9,
});

describe('remembered header verdicts', () => {
  it('a claim header is judged per kind of peer, whichever comes first', () => {
    for (const name of ['X-Forwarded-For', 'x-real-ip', 'X_Forwarded_For', 'True-Client-IP', 'x-api-version']) {
      const trusted = [isSpoofableHeader(name, true), isSpoofableHeader(name, true)];
      const untrusted = [isSpoofableHeader(name, false), isSpoofableHeader(name, false)];
      assert.equal(trusted[0], trusted[1], name);
      assert.equal(untrusted[0], untrusted[1], name);
    }
    assert.equal(isSpoofableHeader('X-Forwarded-For', true), false);
    assert.equal(isSpoofableHeader('X-Forwarded-For', false), true);
    assert.equal(isSpoofableHeader('X_Forwarded_For', true), true);
    assert.equal(isSpoofableHeader('x-api-version', false), false);
  });

  it('forwarded headers from a trusted and an untrusted peer differ as before, call after call', () => {
    const incoming = { 'x-forwarded-for': '1.2.3.4', 'x-api-version': '2', 'x-stepgate-subject': 'admin' };
    const ctx = { identity: undefined, requestId: 'r', assertion: undefined, forwardAuthorization: false,
      clientIp: '10.0.0.1', host: 'h', protocol: 'http' };
    for (let i = 0; i < 3; i++) {
      const fromTrusted = forwardedHeaders(incoming, { ...ctx, trustedPeer: true });
      const fromAnyone = forwardedHeaders(incoming, { ...ctx, trustedPeer: false });
      assert.equal(fromTrusted['x-forwarded-for'], '1.2.3.4, 10.0.0.1');
      assert.equal(fromAnyone['x-forwarded-for'], '10.0.0.1');
      assert.equal(fromAnyone['x-api-version'], '2');
      assert.equal(fromTrusted['x-stepgate-subject'], undefined);
    }
  });

  it('response headers: hop-by-hop, the gateway’s own and Connection-named ones dropped every time', () => {
    for (let i = 0; i < 3; i++) {
      const out = responseHeaders({
        connection: 'x-secret', 'x-secret': '1', 'keep-alive': 'timeout=5', X_Stepgate_Subject: 'x',
        'x-request-id': 'up', 'set-cookie': ['a=1', '__Host-stepgate-session=evil'], 'content-type': 'text/plain',
      });
      assert.deepEqual(out, { 'set-cookie': ['a=1'], 'content-type': 'text/plain' });
    }
  });

  it('a frozen identity’s headers are encoded once from its second request on, equal to a fresh encoding', () => {
    const frozen = Object.freeze(identity('alice bob'));
    const first = identityHeaders(frozen);
    const second = identityHeaders(frozen);
    const third = identityHeaders(frozen);
    assert.deepEqual(first, identityHeaders(identity('alice bob')));
    assert.deepEqual(second, first);
    assert.equal(third, second, 'kept from the second request on');
    assert.notEqual(first, second, 'seen once: nothing kept');
    assert.ok(Object.isFrozen(third));
    assert.equal(third['x-stepgate-subject'], 'alice%20bob');
  });
});
