/** Config documents shared by integration tests (as YAML would parse them). */
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

/** Every problem `stepgate check` would name for `document`, as `path: message`; `[]` when valid. */
export function configProblems(document: unknown): string[] {
  try {
    parseConfig(document, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

/** One issuer, one HTTP target with `stripPrefix: /api`, read/write/public routes. */
export function coreConfig(issuerUrl: string, jwksUri: string, upstreamUrl: string): Record<string, unknown> {
  return {
    issuers: [{ name: 'ci', issuer: issuerUrl, audiences: ['stepgate'], jwksUri, preset: 'generic' }],
    targets: { orders: { type: 'http', url: upstreamUrl, stripPrefix: '/api', timeoutMs: 1000 } },
    routes: [
      {
        name: 'orders-read',
        path: '/api/orders/*',
        methods: ['GET'],
        target: 'orders',
        allow: { scopes: ['orders:read'] },
      },
      {
        name: 'orders-write',
        path: '/api/orders/*',
        methods: ['POST', 'PUT'],
        target: 'orders',
        allow: { scopes: ['orders:write'] },
      },
      { name: 'status', path: '/public/status', methods: ['GET'], target: 'orders', public: true },
    ],
    audit: { claims: ['email', 'repository'] },
  };
}
