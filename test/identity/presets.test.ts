import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JWTPayload } from 'jose';
import type { IssuerConfig } from '../../src/config/schema.ts';
import { identityFromClaims } from '../../src/identity/presets.ts';
import { issuerConfig } from '../support/issuer.ts';

const base = { iss: 'https://idp.example.com', sub: 'subject-1', exp: 2_000_000_000 };
const read = (preset: IssuerConfig['preset'], claims: Record<string, unknown>) =>
  identityFromClaims(
    issuerConfig({ name: preset, issuer: base.iss, preset }),
    { ...base, ...claims } as JWTPayload,
    'bearer',
    'tid',
  );

describe('claim presets', () => {
  it('keycloak: scope string, realm and client roles, azp, groups', () => {
    const id = read('keycloak', {
      scope: 'profile  orders:read deploy:start',
      azp: 'ci-bot',
      realm_access: { roles: ['deployer', 7] },
      resource_access: { stepgate: { roles: ['operator'] }, account: { roles: ['view-profile'] }, junk: 'x' },
      groups: ['/platform', null],
    });
    assert.deepEqual(id.scopes, ['profile', 'orders:read', 'deploy:start']);
    assert.deepEqual(id.roles, ['deployer', 'stepgate:operator', 'account:view-profile']);
    assert.deepEqual(id.groups, ['/platform']);
    assert.equal(id.clientId, 'ci-bot');
    assert.equal(id.issuer, 'keycloak');
    assert.equal(id.iss, base.iss);
    assert.equal(id.sub, 'subject-1');
    assert.equal(id.expiresAt, 2_000_000_000);
    assert.equal(id.tokenId, 'tid');
    assert.equal(id.authMethod, 'bearer');
  });

  it('keycloak falls back to client_id when azp is absent', () => {
    assert.equal(read('keycloak', { client_id: 'svc' }).clientId, 'svc');
  });

  it('okta: scp array, groups, cid; a scope string is not read', () => {
    const id = read('okta', { scp: ['orders:read', 3], cid: '0oa1', groups: ['Everyone'], scope: 'admin' });
    assert.deepEqual(id.scopes, ['orders:read']);
    assert.deepEqual(id.groups, ['Everyone']);
    assert.deepEqual(id.roles, []);
    assert.equal(id.clientId, '0oa1');
  });

  it('github-actions: no scopes, clientId is job_workflow_ref, the rest stays claims', () => {
    const ref = 'acme/app/.github/workflows/deploy.yml@refs/heads/main';
    const id = read('github-actions', { repository: 'acme/app', job_workflow_ref: ref, scope: 'admin' });
    assert.deepEqual(id.scopes, []);
    assert.equal(id.clientId, ref);
    assert.equal(id.claims['repository'], 'acme/app');
  });

  it('generic: scope string, else scp array; roles; azp ?? client_id ?? cid', () => {
    assert.deepEqual(read('generic', { scope: 'a b', scp: ['c'] }).scopes, ['a', 'b']);
    assert.deepEqual(read('generic', { scp: ['c'] }).scopes, ['c']);
    assert.deepEqual(read('generic', { roles: ['r', 'r'] }).roles, ['r']);
    assert.equal(read('generic', { client_id: 'x', cid: 'y' }).clientId, 'x');
    assert.equal(read('generic', { cid: 'y' }).clientId, 'y');
    assert.equal(read('generic', {}).clientId, undefined);
  });

  it('junk in every claim a preset reads is ignored, never thrown on', () => {
    const junk = [null, 42, 'str', { a: 1 }, [null, {}, [], 1], true];
    for (const preset of ['keycloak', 'okta', 'github-actions', 'generic'] as const) {
      for (const value of junk) {
        const id = read(preset, {
          scope: value,
          scp: value,
          roles: value,
          groups: value,
          realm_access: value,
          resource_access: value === null ? null : { c: value },
          azp: value,
          cid: value,
          client_id: value,
          job_workflow_ref: value,
        });
        for (const list of [id.scopes, id.roles, id.groups]) {
          assert.ok(
            list.every((s) => typeof s === 'string'),
            `${preset} ${JSON.stringify(value)}`,
          );
        }
        assert.ok(id.clientId === undefined || typeof id.clientId === 'string');
      }
    }
  });
});
