/**
 * `--profile`: stepgate under each workload with `--cpu-prof` (a fresh process per workload, so
 * each profile holds one workload), and the bare proxy under the repeated token for comparison;
 * each profile summarized (bench/lib/profile.ts). Profiles are kept in bench/profiles/.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Loader } from '../lib/load.ts';
import { type ServerProcess, startServer } from '../lib/processes.ts';
import { formatProfile, summarizeProfile } from '../lib/profile.ts';
import type { TargetName } from '../lib/report.ts';
import { machine, ROOT, type Settings } from '../lib/settings.ts';
import { createRunner, type Stack } from '../lib/stack.ts';
import type { Workload, Workloads } from '../lib/workloads.ts';

export async function profile(
  stack: Stack,
  loader: Loader,
  workloads: Workloads,
  settings: Settings,
) {
  const base = join(ROOT, 'bench', 'profiles');
  const reports: string[] = [];
  const profiled = async (
    id: string,
    start: (flags: string[]) => Promise<ServerProcess>,
    target: TargetName,
    workload: Workload,
  ) => {
    const dir = join(base, id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const server = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    const runner = createRunner(
      loader,
      { ...stack, [target === 'bare' ? 'bare' : 'gateway']: server },
      settings,
    );
    const warm = await runner.once(target, workload, settings.warmupSec);
    const result = await runner.once(
      target,
      workload,
      settings.durationSec * 2,
    );
    await server.stop();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no profile written in ${dir}`);
    const title = `${target}, ${workload.label} (${result.rps.toFixed(0)} req/s; bench/profiles/${id}/${file})`;
    reports.push(
      formatProfile(
        title,
        summarizeProfile(join(dir, file)),
        warm.requests + result.requests,
      ),
    );
  };
  await stack.gateway.stop();
  for (const workload of Object.values(workloads)) {
    await profiled(
      workload.id,
      (flags) => stack.startGateway(flags),
      'stepgate',
      workload,
    );
  }
  const startBare = (nodeFlags: string[]) =>
    startServer('bare', 'bare-proxy.ts', {
      args: [stack.upstream.url],
      nodeFlags,
      cpus: stack.placement.proxy,
    });
  await profiled('bare', startBare, 'bare', workloads.repeated);
  stack.gateway = await stack.startGateway();
  return [`Machine: ${machine(loader)}`, '', ...reports].join('\n\n');
}
