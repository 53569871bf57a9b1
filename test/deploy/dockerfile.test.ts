/**
 * The Dockerfile, checked without a Docker engine: BuildKit's parser and linter (the rules of
 * `docker build --check`) find nothing; it is multi-stage, installs production dependencies only,
 * runs Node 24 as a non-root user, declares the ports, the health check and the config path the
 * rest of the deployment uses; and .dockerignore keeps exactly the sources in the context.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { execForm, readDockerfile, type Stage } from '../support/dockerfile.ts';
import { deployTools } from '../support/services.ts';
import { ROOT } from '../support/stepgate-process.ts';

const DOCKERFILE = join(ROOT, 'Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
const stages = readDockerfile(text);
const runtime = stages.at(-1)!;
const all = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const one = (stage: Stage, keyword: string) => {
  const found = all(stage, keyword);
  assert.equal(found.length, 1, `one ${keyword} in the final stage`);
  return found[0]!;
};

interface LintResult {
  warnings: { ruleName: string; detail: string }[] | null;
  buildError?: { message: string };
}

function lint(tool: string, file: string): LintResult {
  const result = spawnSync(tool, ['dockerfile', file], { encoding: 'utf8' });
  assert.ok(result.status === 0 || result.status === 1, result.stderr);
  return JSON.parse(result.stdout) as LintResult;
}

describe('Dockerfile', () => {
  test('BuildKit parses it and its linter (docker build --check) finds nothing', async (t) => {
    const tool = deployTools(t);
    if (!tool) return;
    const result = lint(tool, DOCKERFILE);
    assert.equal(result.buildError, undefined);
    assert.deepEqual(result.warnings ?? [], []);
    // The linter is live: the same file with a shell-form ENTRYPOINT and a lower-case `as` is flagged.
    const dir = await mkdtemp(join(tmpdir(), 'stepgate-dockerfile-'));
    const broken = text.replace(' AS deps', ' as deps').replace(/ENTRYPOINT \[.*\]/, 'ENTRYPOINT node /app/bin/stepgate.js');
    writeFileSync(join(dir, 'Dockerfile'), broken);
    const rules = (lint(tool, join(dir, 'Dockerfile')).warnings ?? []).map((w) => w.ruleName).sort();
    assert.deepEqual(rules, ['FromAsCasing', 'JSONArgsRecommended']);
  });

  test('multi-stage: production dependencies only, installed in their own stage', () => {
    assert.ok(stages.length >= 2);
    const deps = stages.find((stage) => stage.name === 'deps')!;
    assert.ok(all(deps, 'RUN').some((run) => /\bnpm ci --omit=dev\b/.test(run)));
    assert.deepEqual(all(runtime, 'RUN').filter((run) => /\bnpm\b (ci|install)/.test(run)), [], 'nothing installed at run time');
    assert.ok(all(runtime, 'COPY').includes('--from=deps /app/node_modules ./node_modules'));
  });

  test('Node 24, non-root by number, config at /etc/stepgate/gateway.yaml, serve by default', () => {
    assert.match(runtime.from, /^node:24[-.]/);
    const [user, group] = one(runtime, 'USER').split(':').map(Number);
    assert.ok(user! > 0 && group! > 0, 'a numeric non-root user, so runAsNonRoot can verify it');
    assert.match(one(runtime, 'ENV'), /\bSTEPGATE_CONFIG=\/etc\/stepgate\/gateway\.yaml\b/);
    assert.deepEqual(execForm(one(runtime, 'ENTRYPOINT')), ['node', '/app/bin/stepgate.js']);
    assert.deepEqual(execForm(one(runtime, 'CMD')), ['serve']);
  });

  test('EXPOSE and HEALTHCHECK match the gateway configs it runs', () => {
    const compose = parse(readFileSync(join(ROOT, 'deploy/compose/gateway.yaml'), 'utf8')) as { server: { port: string }; admin: { port: string } };
    const defaultOf = (value: string) => Number(/:-(\d+)\}/.exec(value)![1]);
    assert.deepEqual(one(runtime, 'EXPOSE').split(/\s+/).map(Number), [defaultOf(compose.server.port), defaultOf(compose.admin.port)]);
    const healthcheck = one(runtime, 'HEALTHCHECK');
    const timeout = Number(/--timeout=(\d+)s/.exec(healthcheck)![1]);
    assert.ok(timeout > 5, 'longer than stepgate health waits (5 s)');
    assert.deepEqual(JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD') + 3)), ['node', '/app/bin/stepgate.js', 'health']);
  });

  test('.dockerignore keeps what the Dockerfile copies and nothing else of the checkout', (t) => {
    const tool = deployTools(t);
    if (!tool) return;
    const kept = ['package.json', 'package-lock.json', 'bin/stepgate.js', 'src/cli.ts', 'src/dev/upstream.ts'];
    const left = ['node_modules/fastify/package.json', '.git/HEAD', 'test/errors.test.ts', '.env', 'audit/audit.jsonl', '.stepgate-demo/audit.jsonl', 'docs/performance.md', 'Dockerfile'];
    const copied = stages
      .flatMap((stage) => all(stage, 'COPY'))
      .filter((args) => !args.startsWith('--from'))
      .flatMap((args) => args.split(/\s+/).slice(0, -1));
    const result = spawnSync(tool, ['dockerignore', join(ROOT, '.dockerignore'), ...kept, ...left, ...copied], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const verdicts = JSON.parse(result.stdout) as Record<string, string>;
    for (const path of [...kept, ...copied]) assert.equal(verdicts[path], 'keep', path);
    for (const path of left) assert.equal(verdicts[path], 'ignore', path);
  });
});
