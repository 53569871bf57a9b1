import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Identity } from '../../../src/identity/types.ts';
import { buildInput, MAX_INPUT_BYTES } from '../../../src/targets/stepfunctions/input.ts';

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
});
