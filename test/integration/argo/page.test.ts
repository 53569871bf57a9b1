/**
 * `/.stepgate/` lists the caller's recent Argo workflows beside their Step Functions executions:
 * an engineer logs in, starts one of each from the browser session, and sees both, with their
 * status and a link to read each back — and another engineer sees neither.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ARGO_NAMESPACE, startTestArgo, type TestArgo } from '../../support/argo.ts';
import { ALICE, BOB, CookieJar, login, type SsoStack, startSsoStack } from '../../support/sso.ts';
import { startTestStepFunctions, type TestStepFunctions, useTestAwsCredentials } from '../../support/stepfunctions.ts';

useTestAwsCredentials();

let argo: TestArgo;
let sfn: TestStepFunctions;
let stack: SsoStack;

const sessionRoute = (name: string, path: string, target: string, methods: string[]) => ({
  name,
  path,
  methods,
  target,
  auth: ['bearer', 'session'],
  allow: { scopes: ['orders:write'] },
});

before(async () => {
  [argo, sfn] = await Promise.all([startTestArgo(), startTestStepFunctions()]);
  stack = await startSsoStack({
    store: 'cookie',
    targets: {
      release: {
        type: 'argo',
        server: argo.url,
        namespace: ARGO_NAMESPACE,
        templateRef: { kind: 'WorkflowTemplate', name: 'deploy' },
        tokenFile: argo.tokenFile,
        parameters: ['version'],
      },
      deploy: {
        type: 'stepfunctions',
        stateMachineArn: sfn.stateMachineArn('deploy'),
        region: sfn.region,
        endpoint: sfn.url,
      },
    },
    routes: [
      sessionRoute('release', '/argo/release', 'release', ['POST']),
      sessionRoute('workflows', '/argo/workflows/*', 'release', ['GET']),
      sessionRoute('deploy', '/sfn/deploy', 'deploy', ['POST']),
      sessionRoute('executions', '/executions/*', 'deploy', ['GET']),
    ],
  });
});

after(async () => {
  await stack.close();
  await Promise.all([argo.close(), sfn.close()]);
});

async function post(jar: CookieJar, path: string, body: unknown): Promise<Record<string, string>> {
  const res = await jar.fetch(stack.origin + path, {
    method: 'POST',
    headers: { origin: stack.origin, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202, await res.clone().text());
  return (await res.json()) as Record<string, string>;
}

async function page(jar: CookieJar): Promise<string> {
  const res = await jar.fetch(`${stack.origin}/.stepgate/`, { headers: { accept: 'text/html' } });
  assert.equal(res.status, 200);
  return res.text();
}

describe('the /.stepgate/ page', () => {
  it('lists the caller’s Argo workflows beside their executions, with status and a link', async () => {
    const jar = new CookieJar();
    await login(stack, jar, '/.stepgate/login', ALICE);
    const workflow = await post(jar, '/argo/release', { version: '1.0.0' });
    const execution = await post(jar, '/sfn/deploy', { version: '1.0.0' });

    const html = await page(jar);
    const rows = html.split('<tr>').slice(2);
    assert.equal(rows.length, 2, html);
    assert.ok(html.includes(`<a href="/argo/workflows/${workflow['name']}">${workflow['name']}</a>`));
    const argoRow = rows.find((r) => r.includes(workflow['name']!))!;
    assert.match(argoRow, /<td>release<\/td>/);
    assert.match(argoRow, /class="status status-(PENDING|RUNNING)"/);
    assert.ok(rows.some((r) => r.includes(execution['executionArn']!.split(':').at(-1)!)));

    argo.clock.advance(10_000);
    assert.match(await page(jar), /class="status status-SUCCEEDED">SUCCEEDED</);

    // The link works for her session.
    const read = await jar.fetch(`${stack.origin}/argo/workflows/${workflow['name']}`);
    assert.equal(read.status, 200);
    assert.equal(((await read.json()) as { phase: string }).phase, 'Succeeded');
  });

  it('shows another engineer none of them', async () => {
    const jar = new CookieJar();
    await login(stack, jar, '/.stepgate/login', BOB);
    assert.match(await page(jar), /<h2 id="executions">Your recent executions<\/h2>\n<p class="none">None yet\.<\/p>/);
  });

  it('still renders, saying so, when argo-server cannot list', async () => {
    argo.setServiceAccounts([]);
    try {
      const jar = new CookieJar();
      await login(stack, jar, '/.stepgate/login', ALICE);
      const html = await page(jar);
      // The Step Functions execution is still listed; the workflows are left out.
      assert.equal(html.split('<tr>').slice(2).length, 1);
    } finally {
      argo.setServiceAccounts([{ token: argo.token, name: 'argo/stepgate' }]);
    }
  });
});
