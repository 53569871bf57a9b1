import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { restartOnlyChanges } from '../../src/config/reload-check.ts';

const base = {
  server: { port: 8080, publicUrl: 'https://gw.example.com' },
  issuers: [
    { name: 'kc', issuer: 'https://sso.example.com/realms/x', audiences: ['stepgate'] },
    { name: 'gh', issuer: 'https://token.actions.githubusercontent.com', audiences: ['stepgate'] },
  ],
  sso: { issuer: 'kc', clientId: 'stepgate', clientSecret: 's', cookieSecret: 'c'.repeat(32) },
  targets: { o: { type: 'http', url: 'http://127.0.0.1:3000' } },
  routes: [{ name: 'r', path: '/a/*', target: 'o', allow: { scopes: ['x'] } }],
  audit: { claims: ['email'] },
};

const changed = (patch: (doc: typeof base) => unknown) =>
  restartOnlyChanges(parseConfig(base, {}), parseConfig(patch(structuredClone(base)), {})).map((p) => p.path);

describe('what a reload may change', () => {
  const cases: [string, (doc: typeof base) => unknown, string[]][] = [
    ['routes, targets and another issuer: live', (d) => ({ ...d, routes: [], issuers: [d.issuers[0]] }), []],
    ['audit.claims: live', (d) => ({ ...d, audit: { claims: ['sub'] } }), []],
    ['server.port: restart', (d) => ({ ...d, server: { ...d.server, port: 9000 } }), ['server.port']],
    ['audit sinks: restart', (d) => ({ ...d, audit: { ...d.audit, sinks: [] } }), ['audit.sinks']],
    ['sso removed: restart', ({ sso: _sso, ...d }) => d, ['sso']],
    [
      'the issuer sso uses: restart',
      (d) => ({ ...d, issuers: [{ ...d.issuers[0], audiences: ['other'] }, d.issuers[1]] }),
      ['issuers["kc"]'],
    ],
  ];
  for (const [name, patch, want] of cases) it(name, () => assert.deepEqual(changed(patch), want));
});
