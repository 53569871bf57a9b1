/** The `sso` section: accepted with its defaults; every misuse named by its key path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const SECRET = 'x'.repeat(32);
const doc = (sso: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  server: { publicUrl: 'https://gateway.example.com' },
  issuers: [
    { name: 'kc', issuer: 'https://sso.example.com/realms/x', audiences: ['stepgate'], preset: 'keycloak' },
  ],
  sso: { issuer: 'kc', clientId: 'stepgate', clientSecret: 's', cookieSecret: SECRET, ...sso },
  targets: { orders: { type: 'http', url: 'http://127.0.0.1:3000' } },
  routes: [
    { name: 'r', path: '/api/*', target: 'orders', auth: ['bearer', 'session'], allow: { scopes: ['a'] } },
  ],
  ...extra,
});

function problems(document: unknown): string[] {
  try {
    parseConfig(document, {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('sso config', () => {
  it('is accepted, with named defaults', () => {
    const config = parseConfig(doc(), {});
    assert.equal(config.sso?.store, 'cookie');
    assert.equal(config.sso?.sessionTtlSeconds, 28_800);
    assert.equal(config.sso?.sessionIdleSeconds, 3600);
    assert.deepEqual(config.sso?.scopes, ['openid', 'profile', 'email']);
  });

  it('takes the redis store with a redis section, and a key prefix', () => {
    const config = parseConfig(doc({ store: 'redis' }, { redis: { url: 'redis://127.0.0.1:6379' } }), {});
    assert.equal(config.redis?.keyPrefix, 'stepgate:');
    assert.deepEqual(problems(doc({ store: 'redis' })), ['sso.store: "redis" needs the redis section']);
  });

  const refused: [string, unknown, string][] = [
    ['a short cookie secret', doc({ cookieSecret: 'short' }), 'sso.cookieSecret: must be at least 32 bytes'],
    ['no publicUrl', { ...doc(), server: {} }, 'server.publicUrl: is required when sso is set'],
    [
      'a publicUrl with a path',
      { ...doc(), server: { publicUrl: 'https://example.com/gw' } },
      'server.publicUrl: must be an origin (no path) when sso is set',
    ],
    [
      'scopes without openid',
      doc({ scopes: ['profile'] }),
      'sso.scopes: must include "openid" (the login needs an ID token)',
    ],
    [
      'an idle time-out above the absolute one',
      doc({ sessionTtlSeconds: 60, sessionIdleSeconds: 120 }),
      'sso.sessionIdleSeconds: must not exceed sso.sessionTtlSeconds',
    ],
    ['an unknown issuer', doc({ issuer: 'nope' }), 'sso.issuer: no issuer named "nope"'],
  ];
  for (const [what, document, problem] of refused) {
    it(`refuses ${what}`, () => {
      assert.ok(problems(document).includes(problem), problems(document).join('\n'));
    });
  }

  it('refuses session routes without sso', () => {
    const { sso: _sso, ...withoutSso } = doc();
    assert.ok(problems(withoutSso).includes('routes[0].auth: "session" needs the sso section'));
  });
});
