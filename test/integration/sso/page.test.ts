/**
 * `/.stepgate/` and its neighbours as HTML: escaped values, a strict CSP, no token; executions
 * listed when a source is given, "None yet." without one, and a page that still renders when
 * the source fails or hangs. `whoami` answers bearer callers too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExecutionsSource } from '../../../src/routes/sso-page.ts';
import { ALICE, CAROL, CookieJar, login, type SsoStack, startSsoStack } from '../../support/sso.ts';

let mode: 'list' | 'fail' | 'hang' = 'list';
const calls: string[] = [];
const source: ExecutionsSource = {
  recentExecutions(caller, limit) {
    calls.push(`${caller} ${limit}`);
    if (mode === 'fail') return Promise.reject(new Error('AWS says no'));
    if (mode === 'hang') return new Promise(() => {});
    return Promise.resolve([
      {
        executionArn: 'arn:aws:states:us-east-1:123456789012:execution:deploy:x',
        name: '<b>x</b>',
        workflow: 'deploy"><script>alert(1)</script>',
        status: 'RUNNING',
        startDate: new Date('2026-01-01T00:00:00Z'),
        statusUrl: 'https://evil.example/',
      },
      {
        executionArn: 'arn:aws:states:us-east-1:123456789012:execution:deploy:y',
        name: 'y',
        workflow: 'deploy',
        status: 'SUCCEEDED',
        startDate: new Date('2025-12-31T00:00:00Z'),
        stopDate: new Date('2025-12-31T00:05:00Z'),
        statusUrl: `${withSource.origin}/executions/arn%3Ay`,
      },
    ]);
  },
};

let withSource: SsoStack;
let without: SsoStack;

before(async () => {
  [withSource, without] = await Promise.all([
    startSsoStack({ store: 'cookie', executions: source }),
    startSsoStack({ store: 'cookie' }),
  ]);
});
after(() => Promise.all([withSource.close(), without.close()]));

async function page(
  stack: SsoStack,
  user: { username: string; password: string } = ALICE,
): Promise<{ res: Response; html: string }> {
  const jar = new CookieJar();
  await login(stack, jar, '/.stepgate/login', user);
  const res = await jar.fetch(`${stack.origin}/.stepgate/`, { headers: { accept: 'text/html' } });
  return { res, html: await res.text() };
}

describe('the /.stepgate/ page', () => {
  it('is HTML with a strict policy, no token, and the caller’s executions', async () => {
    mode = 'list';
    const { res, html } = await page(withSource);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.ok(!/script-src/.test(csp), 'no script allowed at all');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(html));
    assert.ok(calls.includes('keycloak/alice 10'));
    assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;'));
    assert.ok(html.includes('deploy&quot;&gt;&lt;script&gt;'));
    assert.ok(!html.includes('<script'), 'nothing unescaped');
    assert.ok(!html.includes('evil.example'), 'a status URL off the gateway is not linked');
    assert.ok(html.includes('<a href="/executions/arn%3Ay">y</a>'), 'one on the gateway is, as a path');
    assert.match(
      html,
      /<form method="post" action="\/\.stepgate\/logout"><button type="submit">Sign out<\/button><\/form>/,
    );
  });

  it('escapes what the IdP says about the user', async () => {
    const { html } = await page(without, CAROL);
    assert.ok(html.includes('&lt;script&gt;alert(&quot;group&quot;)&lt;/script&gt;'));
    assert.ok(!html.includes('<script'));
  });

  it('says none yet without a source, and renders when the source fails or hangs', async () => {
    assert.match((await page(without)).html, /None yet\./);
    mode = 'fail';
    assert.match((await page(withSource)).html, /cannot be listed right now/);
    mode = 'hang';
    const started = performance.now();
    const { res, html } = await page(withSource);
    assert.equal(res.status, 200);
    assert.match(html, /cannot be listed right now/);
    assert.ok(performance.now() - started < 4000);
  });

  it('sends a browser without a session to log in, and back to the page', async () => {
    const res = await fetch(`${without.origin}/.stepgate/`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/.stepgate/login?rd=%2F.stepgate%2F');
    const bare = await fetch(`${without.origin}/.stepgate`, { redirect: 'manual' });
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), '/.stepgate/');
    const api = await fetch(`${without.origin}/.stepgate/whoami`);
    assert.equal(api.status, 401);
  });

  it('answers whoami for a bearer token too', async () => {
    const token = await without.idp.getToken({ clientId: 'ci-bot' });
    const res = await fetch(`${without.origin}/.stepgate/whoami`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['authMethod'], 'bearer');
    assert.equal(body['clientId'], 'ci-bot');
    assert.equal(body['session'], undefined);
  });

  it('asks before logging out on GET, and says so after', async () => {
    const confirm = await fetch(`${without.origin}/.stepgate/logout?rd=%2Fapi%2Forders%2F1`);
    assert.equal(confirm.status, 200);
    assert.match(
      await confirm.text(),
      /<form method="post" action="\/\.stepgate\/logout\?rd=%2Fapi%2Forders%2F1">/,
    );
    const done = await fetch(`${without.origin}/.stepgate/logged-out?state=%2Fapi%2Forders%2F1`);
    assert.match(await done.text(), /href="\/\.stepgate\/login\?rd=%2Fapi%2Forders%2F1"/);
  });

  it('audits page views with the caller', async () => {
    mode = 'list';
    const { res } = await page(withSource);
    const record = await withSource.gateway.auditFor(res.headers.get('x-request-id')!);
    assert.equal(record.http.route, 'sso-home');
    assert.equal(record.caller?.sub, 'alice');
    assert.equal(record.caller?.authMethod, 'session');
  });
});
