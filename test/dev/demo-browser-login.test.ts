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
import { demoEnv } from '../support/demo.ts';
import { CookieJar, loginUntilCallback } from '../support/sso.ts';

let dir: string;
let demo: RunningDemo;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stepgate-demo-'));
  // Every port of the demo moves, so this passes while `npm start` runs the demo.
  demo = await startDemo({
    env: await demoEnv(dir),
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
