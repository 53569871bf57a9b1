/**
 * The identity an upstream receives is unambiguous: two different identities never give the same
 * `X-Stepgate-*` headers, empty lists send no header, and the signed assertion carries the whole
 * identity (scope, roles, groups) so an upstream need not parse headers at all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { type EchoedRequest } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { rawGet } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
});

async function seen(claims: Record<string, unknown>): Promise<EchoedRequest> {
  const token = await stack.issuer.sign({ scope: 'orders:read', ...claims });
  const res = await rawGet(stack.gateway.url, '/api/orders/1', [`Authorization: Bearer ${token}`]);
  assert.equal(res.status, 200, res.raw);
  return JSON.parse(res.body) as EchoedRequest;
}

describe('identity headers', () => {
  it('tell a subject from its percent-encoded spelling', async () => {
    const plain = await seen({ sub: 'bób' });
    const spelled = await seen({ sub: 'b%C3%B3b' });
    assert.equal(plain.headers['x-stepgate-subject'], 'b%C3%B3b');
    assert.equal(spelled.headers['x-stepgate-subject'], 'b%25C3%25B3b');
  });

  it('tell one group holding a comma from two groups, and escape an ASCII %', async () => {
    const one = await seen({ sub: 'a', groups: ['eng,admins'] });
    const two = await seen({ sub: 'a', groups: ['eng', 'admins'] });
    const escaped = await seen({ sub: 'a', groups: ['x%2Cadmins'] });
    assert.equal(one.headers['x-stepgate-groups'], 'eng%2Cadmins');
    assert.equal(two.headers['x-stepgate-groups'], 'eng,admins');
    assert.equal(escaped.headers['x-stepgate-groups'], 'x%252Cadmins');
  });

  it('send no header for an empty list', async () => {
    const echoed = await seen({ sub: 'a', groups: [] });
    assert.equal(echoed.headers['x-stepgate-groups'], undefined);
    assert.equal(echoed.rawHeaders.filter((h) => /^x-stepgate-groups$/i.test(h)).length, 0);
  });
});

describe('X-Stepgate-Assertion', () => {
  it('carries scope (RFC 9068), roles and groups, signed', async () => {
    const echoed = await seen({ sub: 'alice', scope: 'orders:read extra', roles: ['ops'], groups: ['eng,admins', 'x'] });
    const jwks = createRemoteJWKSet(new URL(`${stack.gateway.url}/.well-known/stepgate/jwks.json`));
    const { payload } = await jwtVerify(String(echoed.headers['x-stepgate-assertion']), jwks, { audience: 'orders' });
    assert.equal(payload['scope'], 'orders:read extra');
    assert.deepEqual(payload['roles'], ['ops']);
    assert.deepEqual(payload['groups'], ['eng,admins', 'x']);
  });
});
