/**
 * The demo's browser login: the banner prints a URL and a username/password, and those log in
 * on the embedded IdP's login page and land on the `/.stepgate/` page.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningDemo, startDemo } from '../../src/dev/demo.ts';
import { Capture } from '../support/gateway.ts';
import { CookieJar, freePort, loginUntilCallback } from '../support/sso.ts';

let dir: string;
let demo: RunningDemo;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stepgate-demo-'));
  const [gateway, admin, idp, upstream, sfn, argo] = await Promise.all(Array.from({ length: 6 }, freePort));
  demo = await startDemo({
    // Every port free and every file in the temp dir: nothing here may meet another run.
    env: {
      STEPGATE_DEMO_PORT: String(gateway),
      STEPGATE_DEMO_ADMIN_PORT: String(admin),
      STEPGATE_DEMO_IDP_PORT: String(idp),
      STEPGATE_DEMO_UPSTREAM_PORT: String(upstream),
      STEPGATE_DEMO_SFN_PORT: String(sfn),
      STEPGATE_DEMO_ARGO_PORT: String(argo),
      STEPGATE_DEMO_AUDIT_FILE: join(dir, 'audit.jsonl'),
      STEPGATE_DEMO_ARGO_TOKEN_FILE: join(dir, 'argo-token'),
    },
    gatewayDeps: { auditStdout: new Capture(), logStream: new Capture() },
  });
});

after(async () => {
  await demo?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('the printed browser URL and credentials log in', async () => {
  const line = /browser\s+(\S+)\s+\(sign in as (\S+) \/ (\S+)\)/.exec(demo.banner);
  assert.ok(line, demo.banner);
  const [, url, username, password] = line as unknown as [string, string, string, string];
  const origin = new URL(url).origin;
  const jar = new CookieJar();
  const wrong = loginUntilCallback({ origin }, new CookieJar(), url, { username, password: 'wrong' });
  await assert.rejects(wrong, /did not reach the callback/, 'a wrong password does not log in');
  const callback = await loginUntilCallback({ origin }, jar, url, { username, password });
  const landed = await jar.fetch(callback);
  assert.equal(landed.status, 302);
  assert.equal(landed.headers.get('location'), url);
  const page = await jar.fetch(url, { headers: { accept: 'text/html' } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), new RegExp(`<h1>Signed in as ${username}</h1>`));
  const api = await jar.fetch(`${origin}/api/orders/42`);
  assert.equal(api.status, 200, 'the session reaches the API');
});
