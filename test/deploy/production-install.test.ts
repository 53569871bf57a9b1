/**
 * What the Dockerfile does, natively, on a clean clone of HEAD: the `deps` stage's own
 * `npm ci` line (production dependencies only), then the runtime stage's COPYs into an app
 * directory, run by a Node 24 that is not part of the install (as the image runs its base image's
 * Node). From there `stepgate --version`, `stepgate check` of the Compose config with Compose's
 * environment, the two dev servers, and `stepgate serve` answering `stepgate health` and real
 * requests — so nothing from devDependencies is needed at run time. The npm cache the Dockerfile
 * mounts is this machine's own (`--prefer-offline`), which keeps this under a minute or two.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { readDockerfile } from '../support/dockerfile.ts';
import { startIdp } from '../support/idp.ts';
import { redisUrl } from '../support/services.ts';
import { freePort } from '../support/sso.ts';
import { ROOT, startStepgate } from '../support/stepgate-process.ts';

const listening = /^stepgate dev \w+: listening on (http:\/\/\S+)/;

/** The Dockerfile's stages, replayed: `deps` in `work/deps`, the runtime stage in `work/app`. */
async function replayDockerfile(clone: string, work: string): Promise<string> {
  const stages = readDockerfile(readFileSync(join(clone, 'Dockerfile'), 'utf8'));
  const dirs = new Map<string, string>();
  for (const [index, stage] of stages.entries()) {
    const dir = join(work, stage.name ?? `stage-${index}`);
    mkdirSync(dir, { recursive: true });
    dirs.set(stage.name ?? String(index), dir);
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'COPY') await replayCopy(args, clone, dir, dirs);
      if (keyword === 'RUN' && /\bnpm ci\b/.test(args)) runNpm(args, dir);
    }
  }
  return dirs.get(stages.at(-1)!.name ?? String(stages.length - 1))!;
}

async function replayCopy(args: string, clone: string, dir: string, dirs: Map<string, string>): Promise<void> {
  const from = /^--from=(\S+)\s+/.exec(args)?.[1];
  const words = args.replace(/^--from=\S+\s+/, '').split(/\s+/);
  const destination = join(dir, words.at(-1)!);
  for (const source of words.slice(0, -1)) {
    // `--from=deps /app/x`: the deps stage's WORKDIR is /app.
    const path = from ? join(dirs.get(from)!, source.replace(/^\/app\//, '')) : join(clone, source);
    const target = destination.endsWith('/') || words.length > 2 ? join(destination, source.split('/').at(-1)!) : destination;
    await cp(path, target, { recursive: true });
  }
}

function runNpm(args: string, dir: string): void {
  const command = args.replace(/^(--\S+\s+)+/, '');
  const result = spawnSync('sh', ['-c', `${command} --prefer-offline`], { cwd: dir, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command}: ${result.stderr}`);
}

describe('production install (what the Dockerfile does)', () => {
  test('a clean clone, production dependencies only: version, check, dev servers, serve and health', async (t) => {
    const redis = redisUrl(t);
    if (!redis) return;
    const work = await mkdtemp(join(tmpdir(), 'stepgate-prod-'));
    after(() => rm(work, { recursive: true, force: true }));
    const clone = join(work, 'clone');
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    execFileSync('git', ['clone', '--quiet', '--no-checkout', ROOT, clone]);
    execFileSync('git', ['checkout', '--quiet', '--detach', head], { cwd: clone });

    const app = await replayDockerfile(clone, join(work, 'stages'));
    for (const dev of ['typescript', 'eslint', 'playwright-core', '@types/node', 'autocannon']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is a devDependency`);
    }
    assert.deepEqual(readFileSync(join(app, 'package.json'), 'utf8'), readFileSync(join(clone, 'package.json'), 'utf8'));
    const bin = join(app, 'bin', 'stepgate.js');
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [bin, ...args], { cwd: app, encoding: 'utf8', env: { PATH: process.env['PATH'], ...env } });

    const { version } = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run(['--version']).stdout, `stepgate ${version}\n`);

    const composeConfig = join(clone, 'deploy/compose/gateway.yaml');
    const compose = parse(readFileSync(join(clone, 'docker-compose.yml'), 'utf8')) as {
      services: { stepgate: { environment: Record<string, string> } };
    };
    const composeEnv = compose.services.stepgate.environment;
    const checked = run(['check', '--config', composeConfig], composeEnv);
    assert.equal(checked.status, 0, checked.stderr);

    // The Compose stack's parts, from the production install, on free ports; a Keycloak-shaped IdP.
    const start = (args: string[], ready: RegExp, env: Record<string, string> = {}) =>
      startStepgate(args, { bin, cwd: app, ready, env: { PATH: process.env['PATH']!, ...env } });
    const [upstream, sfn, idp] = await Promise.all([
      start(['dev', 'upstream', '--port', '0'], listening),
      start(['dev', 'stepfunctions', '--port', '0'], listening),
      startIdp({ preset: 'keycloak' }),
    ]);
    after(() => idp.close());
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = {
      ...composeEnv,
      STEPGATE_CONFIG: composeConfig,
      STEPGATE_PORT: String(port),
      STEPGATE_ADMIN_PORT: String(adminPort),
      STEPGATE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      STEPGATE_ISSUER: idp.issuer,
      STEPGATE_REDIS_URL: redis,
      STEPGATE_UPSTREAM_URL: listening.exec(upstream.readyLine)![1]!,
      STEPGATE_SFN_ENDPOINT: listening.exec(sfn.readyLine)![1]!,
      STEPGATE_AUDIT_FILE: join(work, 'audit', 'audit.jsonl'),
    };
    const gateway = await start(['serve'], /stepgate listening/, env);
    // Ready once the IdP's keys are in; then `stepgate health` (what HEALTHCHECK runs) says so.
    for (let i = 0; (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status !== 200; i++) {
      if (i > 200) assert.fail(`not ready:\n${gateway.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const health = run(['health'], env);
    assert.equal(health.status, 0, health.stderr);
    assert.equal(health.stdout, `http://127.0.0.1:${adminPort}/readyz: ready\n`);

    const reader = await idp.getToken({ clientId: 'reader', scope: 'orders:read' });
    const orders = await fetch(`http://127.0.0.1:${port}/api/orders/42`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(orders.status, 200);
    assert.ok(((await orders.json()) as { headers: Record<string, string> }).headers['x-stepgate-assertion']);
    const ciBot = await idp.getToken({ clientId: 'ci-bot', scope: 'deploy:start' });
    const deploy = await fetch(`http://127.0.0.1:${port}/workflows/deploy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ciBot}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'orders', version: '1.0.0' }),
    });
    assert.equal(deploy.status, 202, await deploy.text());

    assert.deepEqual(await Promise.all([gateway.stop(), upstream.stop(), sfn.stop()]), [0, 0, 0]);
    const verified = run(['audit', 'verify', env.STEPGATE_AUDIT_FILE]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  });
});
