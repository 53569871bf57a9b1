/**
 * `stepgate demo` prints curl lines that work as printed: the demo runs on free ports (moved
 * with the STEPGATE_DEMO_* variables config/demo.yaml reads), and every printed command runs
 * unchanged in `sh -c`, with the outcome the banner promises.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningDemo, startDemo } from '../../src/dev/demo.ts';
import { demoEnv } from '../support/demo.ts';
import { Capture } from '../support/gateway.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Runs shell lines exactly as given; never throws on a non-zero exit. */
function sh(lines: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', lines.join('\n')], { cwd: ROOT, timeout: 15_000 }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout });
    });
  });
}

/** The printed commands: each line that follows a `# …` comment in the "Try it" section. */
function printedCommands(banner: string): string[] {
  const lines = banner.split('\n').map((line) => line.trim());
  return lines.filter((_line, i) => i > 0 && lines[i - 1]!.startsWith('# '));
}

const statusOf = (curlOutput: string): number => Number(/^HTTP\/[\d.]+ (\d{3})/.exec(curlOutput)?.[1]);

describe('stepgate demo', () => {
  let dir: string;
  let demo: RunningDemo;
  let printed: string[];
  let argoNow = Date.now();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stepgate-demo-'));
    const quiet = { auditStdout: new Capture(), logStream: new Capture() };
    demo = await startDemo({
      env: await demoEnv(dir),
      cwd: ROOT,
      gatewayDeps: quiet,
      argoClock: () => argoNow,
    });
    printed = printedCommands(demo.banner);
  });

  after(async () => {
    await demo?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('prints each command once, in the order it is to be typed', () => {
    const { token, allowed, refused, unauthenticated, metrics, auditVerify } = demo.commands;
    const { deployToken, deployStart, deployAgain, deployStatus } = demo.commands;
    const { argoStart, argoAgain, argoStatus } = demo.commands;
    assert.deepEqual(printed, [
      token,
      allowed,
      refused,
      unauthenticated,
      metrics,
      auditVerify,
      deployToken,
      deployStart,
      deployAgain,
      deployStatus,
      argoStart,
      argoAgain,
      argoStatus,
    ]);
  });

  test('the printed curl lines get a token, then 200, 403 and 401', async () => {
    const [token, allowed, refused, unauthenticated] = printed as [string, string, string, string];

    const ok = await sh([token, allowed]);
    assert.equal(ok.code, 0);
    assert.equal(statusOf(ok.stdout), 200);
    const echoed = JSON.parse(ok.stdout.slice(ok.stdout.indexOf('\r\n\r\n') + 4)) as {
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(echoed.url, '/orders/42', 'the upstream sees the path without /api');
    assert.equal(echoed.headers['x-stepgate-subject'], demo.idp.subjectOf('reader'));
    assert.equal(echoed.headers['x-stepgate-client'], 'reader');
    assert.equal(echoed.headers['authorization'], undefined);

    const forbidden = await sh([token, refused]);
    assert.equal(statusOf(forbidden.stdout), 403);
    assert.match(forbidden.stdout, /www-authenticate: Bearer [^\r\n]*error="insufficient_scope"/i);
    assert.match(forbidden.stdout, /"code":"SG_ERR_INSUFFICIENT_SCOPE"/);

    const anonymous = await sh([unauthenticated]);
    assert.equal(statusOf(anonymous.stdout), 401);
    assert.match(anonymous.stdout, /"code":"SG_ERR_MISSING_TOKEN"/);
    assert.equal(demo.upstream.received.length, 1, 'only the allowed request reached the upstream');
  });

  test('the printed metrics line shows the requests counted', async () => {
    const metrics = await sh([demo.commands.metrics]);
    assert.equal(metrics.code, 0);
    assert.match(
      metrics.stdout,
      /^stepgate_requests_total\{route="orders-read",decision="allow",reason="allowed",status="200"\} 1$/m,
    );
    assert.match(metrics.stdout, /reason="insufficient_scope",status="403"\} 1$/m);
  });

  test('the printed audit verify line finds the chain intact', async () => {
    // Audit records are written after the response; wait for the three gateway requests.
    const file = join(dir, 'audit.jsonl');
    for (let i = 0; i < 100; i++) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text.split('\n').filter(Boolean).length >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const verify = await sh([demo.commands.auditVerify]);
    assert.equal(verify.code, 0, verify.stdout);
    assert.match(verify.stdout, /intact: 3 records/);
  });

  test('the printed deploy lines start one deployment and read its status as its caller', async () => {
    const { deployToken, deployStart, deployAgain, deployStatus } = demo.commands;
    const started = await sh([deployToken, deployStart]);
    assert.equal(statusOf(started.stdout), 202, started.stdout);
    const body = JSON.parse(started.stdout.slice(started.stdout.indexOf('\r\n\r\n') + 4)) as {
      executionArn: string;
      statusUrl: string;
    };
    assert.match(body.executionArn, /^arn:aws:states:us-east-1:123456789012:execution:deploy:/);
    assert.match(started.stdout, /^location: http:\/\/127\.0\.0\.1:\d+\/executions\/arn:aws:states:/im);

    const running = await sh([deployToken, deployAgain, deployStatus]);
    assert.equal(running.code, 0);
    const [statusUrl = '', status = ''] = running.stdout.split('\n');
    assert.equal(statusUrl, body.statusUrl, 'the same request again: the same execution');
    assert.equal((JSON.parse(status) as { status: string }).status, 'RUNNING');
    assert.equal(demo.stepFunctions?.executions('deploy').length, 1, 'started once');

    const execution = demo.stepFunctions!.executions('deploy')[0]!;
    await execution.done;
    const done = await sh([deployToken, deployAgain, deployStatus]);
    const result = JSON.parse(done.stdout.split('\n')[1]!) as {
      status: string;
      output: Record<string, string>;
    };
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(result.output['artifact'], 'registry.local/orders:1.4.2');
    assert.match(result.output['releasedBy']!, /^ci-bot \(keycloak\//);

    // Another caller (reader, with its orders:read token) cannot read it: 403 before ownership.
    const other = await sh([
      demo.commands.token,
      `curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" ${body.statusUrl}`,
    ]);
    assert.equal(other.stdout, '403');
  });

  test('the printed Argo lines start one workflow and read its phase as its caller', async () => {
    const { deployToken, argoStart, argoAgain, argoStatus } = demo.commands;
    const started = await sh([deployToken, argoStart]);
    assert.equal(statusOf(started.stdout), 202, started.stdout);
    const body = JSON.parse(started.stdout.slice(started.stdout.indexOf('\r\n\r\n') + 4)) as {
      name: string;
      namespace: string;
      statusUrl: string;
    };
    assert.equal(body.namespace, 'demo');
    assert.match(started.stdout, /^location: http:\/\/127\.0\.0\.1:\d+\/argo\/workflows\/[a-z2-7]{26}-k[a-z2-7]{32}\r$/im);

    argoNow += 10;
    const pending = await sh([deployToken, argoAgain, argoStatus]);
    const [statusUrl = '', status = ''] = pending.stdout.split('\n');
    assert.equal(statusUrl, body.statusUrl, 'the same request again: the same workflow');
    assert.equal((JSON.parse(status) as { phase: string }).phase, 'Pending');
    assert.equal(demo.argo?.workflows('demo').length, 1, 'started once');
    const labels = (demo.argo!.workflows('demo')[0]!['metadata'] as { labels: Record<string, string> }).labels;
    assert.equal(labels['stepgate.io/issuer'], 'keycloak');

    argoNow += 10_000;
    const done = await sh([deployToken, argoAgain, argoStatus]);
    const result = JSON.parse(done.stdout.split('\n')[1]!) as {
      phase: string;
      outputs: { parameters: Record<string, string> };
    };
    assert.equal(result.phase, 'Succeeded');
    assert.equal(result.outputs.parameters['artifact'], 'registry.local/orders:1.4.2');
    assert.match(result.outputs.parameters['releasedBy']!, /^ci-bot \(keycloak\//);

    // reader (orders:read only) may not read workflows at all: 403 before ownership.
    const other = await sh([
      demo.commands.token,
      `curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" ${body.statusUrl}`,
    ]);
    assert.equal(other.stdout, '403');
  });
});

test('stepgate demo prints the banner on stdout and exits 0 on SIGINT', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stepgate-demo-'));
  const env = await demoEnv(dir);
  const child = spawn(process.execPath, ['src/cli.ts', 'demo'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let stdout = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 15 s:\n${stdout}`)), 15_000);
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('Ctrl-C stops everything.')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`demo exited early (${code}):\n${stdout}`)));
    });
    const anonymous = printedCommands(stdout)[3]!;
    assert.equal(anonymous, `curl -i http://127.0.0.1:${env['STEPGATE_DEMO_PORT']}/api/orders/42`);
    assert.equal(statusOf((await sh([anonymous])).stdout), 401);

    child.kill('SIGINT');
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
