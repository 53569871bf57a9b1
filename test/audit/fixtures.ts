/** Shared fixtures for the audit tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { Identity } from '../../src/identity/types.ts';
import { type AuditInput, type AuditRecord, buildAuditRecord } from '../../src/audit/record.ts';

/** A JWT-shaped string (header `{"alg":"RS256","typ":"JWT"}`); the signature is junk. */
export const JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTl9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';

export function identity(overrides: Partial<Identity> = {}): Identity {
  return {
    issuer: 'keycloak',
    iss: 'https://sso.example.com/realms/platform',
    sub: 'f7c1a3e0-alice',
    clientId: 'ci-bot',
    scopes: ['deploy:start', 'orders:read'],
    roles: ['deployer'],
    groups: ['/platform'],
    claims: {
      iss: 'https://sso.example.com/realms/platform',
      sub: 'f7c1a3e0-alice',
      email: 'alice@example.com',
      repository: 'acme/app',
      realm_access: { roles: ['deployer', 'offline_access'] },
    },
    authMethod: 'bearer',
    tokenId: 'jti-0001',
    expiresAt: 2_000_000_000,
    ...overrides,
  };
}

export function input(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    time: new Date('2026-11-23T03:21:37.123Z'),
    requestId: 'req-1',
    decision: 'allow',
    reason: 'allowed',
    status: 202,
    durationMs: 12.3,
    http: {
      method: 'POST',
      path: '/workflows/deploy',
      route: 'deploy',
      sourceIp: '10.0.0.7',
      userAgent: 'curl/8.5',
    },
    identity: identity(),
    target: { name: 'deploy', type: 'stepfunctions' },
    policyVersion: 'a'.repeat(64),
    ...overrides,
  };
}

/** A built record with a distinct request id. */
export function record(n: number, overrides: Partial<AuditInput> = {}): AuditRecord {
  return buildAuditRecord(input({ requestId: `req-${n}`, ...overrides }), {
    claims: ['email', 'repository'],
  });
}

/** A fresh temporary directory, removed after the test file. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stepgate-audit-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
