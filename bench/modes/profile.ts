/**
 * `--profile`: stepgate under each workload (a fresh process per workload, so each profile holds
 * one workload), and the bare proxy under the repeated token for comparison. Each process is
 * profiled only while the measured load runs (servers/profiling.ts), and each profile is
 * summarized as µs of main-thread CPU per request (bench/lib/profile.ts), ending with the table
 * docs/performance.md keeps. Profiles are kept in bench/profiles/.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Loader } from '../lib/load.ts';
import { type ServerProcess, startServer } from '../lib/processes.ts';
import { formatProfile, formatProfileTable, type ProfileSummary, summarizeProfile } from '../lib/profile.ts';
import type { TargetName } from '../lib/report.ts';
import { machine, ROOT, type Settings } from '../lib/settings.ts';
import { createRunner, type Stack } from '../lib/stack.ts';
import type { Workload, Workloads } from '../lib/workloads.ts';

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(file)) throw new Error(`no profile written: ${file}`);
}

export async function profile(stack: Stack, loader: Loader, workloads: Workloads, settings: Settings) {
  const base = join(ROOT, 'bench', 'profiles');
  const reports: string[] = [];
  const columns: { title: string; summary: ProfileSummary }[] = [];
  const profiled = async (
    id: string,
    start: (env: Record<string, string>) => Promise<ServerProcess>,
    target: TargetName,
    workload: Workload,
  ) => {
    const dir = join(base, id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const server = await start({ BENCH_PROFILE_DIR: dir });
    const runner = createRunner(loader, { ...stack, [target === 'bare' ? 'bare' : 'gateway']: server }, settings);
    if (target === 'stepgate' && workload.id === 'rotating') await runner.prime(target, workload);
    await runner.once(target, workload, settings.warmupSec);
    server.signal('SIGUSR2');
    const result = await runner.once(target, workload, settings.durationSec * 2);
    server.signal('SIGUSR2');
    await waitFor(join(dir, 'profile.json'));
    await server.stop();
    const { cpuUs } = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')) as { cpuUs: number };
    const summary = summarizeProfile(join(dir, 'profile.cpuprofile'), cpuUs, result.requests);
    const title = `${target}, ${workload.label}`;
    reports.push(formatProfile(`${title} (${result.rps.toFixed(0)} req/s; bench/profiles/${id}/)`, summary));
    columns.push({ title, summary });
  };
  const startBare = (env: Record<string, string>) =>
    startServer('bare', 'bare-proxy.ts', { args: [stack.upstream.url], env, cpus: stack.placement.proxy });
  await profiled('bare', startBare, 'bare', workloads.repeated);
  await stack.gateway.stop();
  for (const workload of Object.values(workloads)) {
    await profiled(workload.id, (env) => stack.startGateway(env), 'stepgate', workload);
  }
  stack.gateway = await stack.startGateway();
  return [`Machine: ${machine(loader)}`, '', ...reports, '', formatProfileTable(columns)].join('\n\n');
}
