/**
 * A gateway pointed at a misconfigured or unreachable issuer says exactly what is wrong, in its
 * log, in `/readyz` and in `stepgate check --online` — tried against the real Keycloak, with the
 * most common mistake: the issuer written with a trailing slash.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { stepgate, tempDir } from '../support/run-cli.ts';
import { startGateway } from '../support/gateway.ts';
import { clientSecret, issuerOf } from '../support/keycloak.ts';
import { startKeycloakSsoStack } from '../support/keycloak-sso.ts';
import { keycloakUrl } from '../support/services.ts';
import { COOKIE_SECRET, freePort } from '../support/sso.ts';

const routes = [{ name: 'app', path: '/*', target: 'app', allow: { scopes: ['orders:read'] } }];
const targets = { app: { type: 'http', url: 'http://127.0.0.1:1' } };

/** A config file for `stepgate check --online`. */
async function configFile(issuer: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const file = join(await tempDir(), 'gateway.yaml');
  await writeFile(file, stringify({ issuers: [{ name: 'keycloak', audiences: ['stepgate'], ...issuer }], targets, routes, ...extra }));
  return file;
}

describe('an issuer configured with a trailing slash Keycloak does not have', () => {
  it('is named in the log and in /readyz, with the issuer to write', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const right = issuerOf(kc);
    const gateway = await startGateway({ issuers: [{ name: 'keycloak', issuer: `${right}/`, audiences: ['stepgate'] }], targets, routes });
    try {
      type Status = { ready: boolean; error?: { cause: string; detail: string } };
      let body: { status: string; issuers: Record<string, Status> } | undefined;
      for (let i = 0; i < 100 && !body?.issuers['keycloak']?.error; i++) {
        const res = await fetch(`${gateway.adminUrl}/readyz`);
        assert.equal(res.status, 503);
        body = (await res.json()) as typeof body;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const status = body!.issuers['keycloak']!;
      assert.equal(status.ready, false);
      assert.equal(status.error?.cause, 'issuer_mismatch');
      assert.match(status.error!.detail, /differ only by a trailing slash/);
      assert.ok(status.error!.detail.includes(`"${right}"`));
      const logged = gateway.logs.lines<{ level: number; issuer?: string; cause?: string; msg: string }>().find(
        (l) => l.issuer === 'keycloak',
      );
      assert.equal(logged?.cause, 'issuer_mismatch');
      assert.ok(logged!.level >= 50, 'logged as an error');
      assert.match(logged!.msg, /trailing slash/);
    } finally {
      await gateway.close();
    }
  });

  it('refuses a browser login with a page naming the slash', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const stack = await startKeycloakSsoStack(kc, { store: 'cookie', issuer: `${issuerOf(kc)}/` });
    try {
      const res = await fetch(`${stack.origin}/.stepgate/login?rd=/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.equal(res.status, 503);
      assert.match(await res.text(), /differ only by a trailing slash/);
    } finally {
      await stack.close();
    }
  });

  it('fails stepgate check --online with exit 2, naming the slash', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const res = await stepgate(['check', '--online', '--config', await configFile({ issuer: `${issuerOf(kc)}/` })]);
    assert.equal(res.code, 2, res.stdout + res.stderr);
    assert.match(res.stdout, /FAIL discovery: .*differ only by a trailing slash.*\[issuer_mismatch\]/);
    assert.match(res.stdout, /FAIL signing keys/);
  });
});

describe('stepgate check --online against Keycloak', () => {
  it('passes a right config: discovery, keys, the sso client and introspection', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const file = await configFile(
      {
        issuer: issuerOf(kc),
        preset: 'keycloak',
        introspection: { clientId: 'stepgate', clientSecret: clientSecret('stepgate') },
      },
      {
        server: { publicUrl: 'https://gateway.example.com' },
        sso: { issuer: 'keycloak', clientId: 'stepgate', clientSecret: clientSecret('stepgate'), cookieSecret: COOKIE_SECRET },
      },
    );
    const res = await stepgate(['check', '--online', '--config', file]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /ok {3}discovery/);
    assert.match(res.stdout, /ok {3}signing keys/);
    assert.match(res.stdout, /ok {3}sso client "stepgate": .*accepts its credentials/);
    assert.match(res.stdout, /ok {3}introspection as "stepgate": .*answers/);
  });

  it('names a wrong client secret and an unreachable issuer', async (t) => {
    const kc = keycloakUrl(t);
    if (!kc) return;
    const closed = await freePort();
    const file = join(await tempDir(), 'gateway.yaml');
    await writeFile(
      file,
      stringify({
        server: { publicUrl: 'https://gateway.example.com' },
        issuers: [
          { name: 'keycloak', issuer: issuerOf(kc), audiences: ['stepgate'] },
          { name: 'gone', issuer: `http://127.0.0.1:${closed}/realms/gone`, audiences: ['stepgate'] },
        ],
        sso: { issuer: 'keycloak', clientId: 'stepgate', clientSecret: 'not-the-secret', cookieSecret: COOKIE_SECRET },
        targets,
        routes,
      }),
    );
    const res = await stepgate(['check', '--online', '--config', file]);
    assert.equal(res.code, 2);
    assert.match(res.stdout, /FAIL sso client "stepgate": .*refused the client id or secret \(unauthorized_client: Invalid client/);
    assert.match(res.stdout, /issuer gone[^\n]*\n {2}FAIL discovery: connection refused by 127\.0\.0\.1:\d+.*\[refused\]/);
  });
});
