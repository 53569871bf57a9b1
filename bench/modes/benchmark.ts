/**
 * The default mode: every row of issue 11's table in one run — each workload against direct, bare
 * and stepgate in alternating rounds; the Step Functions path against a direct SDK call; latency
 * at half the bare proxy's peak; peak RSS at 1,000 connections, then stepgate soaked at 1,000
 * connections — followed by the table and the targets, each met or missed by how much.
 */
import { describePlacement } from '../lib/cpus.ts';
import type { Loader, LoadResult } from '../lib/load.ts';
import {
  aggregate,
  type Check,
  formatChecks,
  formatTable,
  type Measurement,
  type Row,
  type TargetName,
} from '../lib/report.ts';
import { elapsed, machine, PATH, type Settings, say } from '../lib/settings.ts';
import { stepFunctions } from '../lib/sfn-rows.ts';
import { createRunner, type Runner, rotate, type Stack } from '../lib/stack.ts';
import type { Workloads } from '../lib/workloads.ts';

const MANY_CONNECTIONS = 1000;
const TARGETS: readonly TargetName[] = ['direct', 'bare', 'stepgate'];

interface Sampled {
  readonly result: LoadResult;
  readonly samples: readonly { readonly t: number; readonly rss: number }[];
}

/** Loads `target` with `MANY_CONNECTIONS` connections for `seconds`, sampling its RSS every `everyMs`. */
async function manyConnections(
  runner: Runner,
  target: TargetName,
  workloads: Workloads,
  seconds: number,
  everyMs: number,
): Promise<Sampled> {
  const server = runner.serverOf(target);
  const started = performance.now();
  const samples = [{ t: 0, rss: server.rssMb() }];
  const sample = () =>
    samples.push({ t: (performance.now() - started) / 1000, rss: server.rssMb() });
  const timer = setInterval(sample, everyMs);
  const result = await runner.once(target, workloads.rotating, seconds, {
    connections: MANY_CONNECTIONS,
  });
  clearInterval(timer);
  sample();
  return { result, samples };
}

const peak = (s: Sampled) => Math.max(...s.samples.map((x) => x.rss));

function manyRow(label: string, target: TargetName, s: Sampled): Row {
  const m: Measurement = {
    rps: s.result.rps,
    p50Ms: s.result.p50Ms,
    p99Ms: s.result.p99Ms,
    rssMb: peak(s),
    unexpected: s.result.non2xx + s.result.errors,
  };
  return aggregate(label, target, [m]);
}

export async function benchmark(
  stack: Stack,
  loader: Loader,
  workloads: Workloads,
  settings: Settings,
) {
  const runner = createRunner(loader, stack, settings);
  const rows: Row[] = [];
  const started = performance.now();
  const find = (workload: string, target: TargetName) =>
    rows.find((r) => r.workload === workload && r.target === target)!;

  // JIT warm-up of every server, discarded.
  for (const target of TARGETS)
    await runner.once(target, workloads.rotating, settings.warmupSec);

  for (const workload of Object.values(workloads)) {
    if (workload.id === 'rotating') await runner.prime('stepgate', workload);
    const runs = new Map<TargetName, Measurement[]>(TARGETS.map((t) => [t, []]));
    for (let round = 0; round < settings.rounds; round++) {
      for (const target of rotate(TARGETS, round + rows.length)) {
        runs.get(target)!.push(await runner.measure(target, workload));
      }
    }
    for (const target of TARGETS)
      rows.push(aggregate(workload.label, target, runs.get(target)!));
    say(
      `  ${workload.label}: stepgate ${find(workload.label, 'stepgate').rps.toFixed(0)} req/s, bare ${find(workload.label, 'bare').rps.toFixed(0)} (${elapsed(started)})`,
    );
  }

  const sfnRows = stack.sfn ? await stepFunctions(stack, workloads, settings) : undefined;
  if (sfnRows) {
    rows.push(...sfnRows);
    say(`  Step Functions done (${elapsed(started)})`);
  }

  // Latency at half the bare proxy's peak: the same paced load on both.
  const rate = find(workloads.repeated.label, 'bare').rps / 2;
  const pacedLabel = `repeated, paced at ½ bare peak (${rate.toFixed(0)}/s)`;
  const paced = { bare: [] as Measurement[], stepgate: [] as Measurement[] };
  for (let round = 0; round < settings.rounds; round++) {
    for (const target of rotate(['bare', 'stepgate'] as const, round)) {
      paced[target].push(await runner.measure(target, workloads.repeated, { ratePerSec: rate }));
    }
  }
  rows.push(aggregate(pacedLabel, 'bare', paced.bare), aggregate(pacedLabel, 'stepgate', paced.stepgate));
  say(`  paced latency done (${elapsed(started)})`);

  const manyLabel = `${MANY_CONNECTIONS} connections, 10,000 tokens (peak RSS)`;
  const manySeconds = settings.warmupSec + settings.durationSec;
  // Cached entries live 60 s at most: the rotating tokens are sent once more before they are needed.
  await runner.prime('stepgate', workloads.rotating);
  const manyBare = await manyConnections(runner, 'bare', workloads, manySeconds, 200);
  const manyGate = await manyConnections(runner, 'stepgate', workloads, manySeconds, 200);
  rows.push(manyRow(manyLabel, 'bare', manyBare), manyRow(manyLabel, 'stepgate', manyGate));
  say(`  ${MANY_CONNECTIONS} connections done (${elapsed(started)})`);

  const soakEveryMs = Math.max(1000, (settings.soakSec * 1000) / 10);
  say(`  soak: stepgate at ${MANY_CONNECTIONS} connections for ${settings.soakSec} s …`);
  const soaked = await manyConnections(runner, 'stepgate', workloads, settings.soakSec, soakEveryMs);
  const soakLabel = `soak: ${MANY_CONNECTIONS} connections for ${settings.soakSec} s`;
  rows.push(manyRow(soakLabel, 'stepgate', soaked));
  say(`  soak done (${elapsed(started)})`);

  const ratio = (label: string) => find(label, 'stepgate').rps / find(label, 'bare').rps;
  const allow = find(workloads.repeated.label, 'stepgate');
  const deny = find(workloads.deny.label, 'stepgate');
  const halfBare = find(pacedLabel, 'bare');
  const halfGate = find(pacedLabel, 'stepgate');
  const addedP99 = halfGate.p99Ms - halfBare.p99Ms;
  const coarse = loader.resolutionMs >= 1;
  const throughput = (label: string, min: number): Check => ({
    target: `≥ ${min.toFixed(1)}× bare, ${label}`,
    measured: `${ratio(label).toFixed(2)}×`,
    met: ratio(label) >= min,
  });
  const rssRatio = peak(manyGate) / peak(manyBare);
  const soakValues = soaked.samples.map((s) => s.rss);
  const soakMin = Math.min(...soakValues);
  const soakMax = Math.max(...soakValues);
  const checks: Check[] = [
    throughput(workloads.repeated.label, 1.0),
    throughput(workloads.rotating.label, 1.0),
    throughput(workloads.fresh.label, 0.6),
    {
      target: 'p99 added over bare ≤ 0.5 ms at ½ its peak',
      measured:
        `${addedP99.toFixed(2)} ms (p99 ${halfGate.p99Ms.toFixed(2)} vs ${halfBare.p99Ms.toFixed(2)} ms; ${halfGate.rps.toFixed(0)} and ${halfBare.rps.toFixed(0)} req/s reached)` +
        (coarse ? `; not judged: ${loader.name} measures whole milliseconds` : ''),
      // A 0.5 ms target cannot be judged with a 1 ms histogram.
      met: coarse ? undefined : addedP99 <= 0.5,
    },
    {
      target: `RSS at ${MANY_CONNECTIONS} connections ≤ 1.2× bare`,
      measured: `${rssRatio.toFixed(2)}× (stepgate peak ${peak(manyGate).toFixed(0)} MB at ${manyGate.result.rps.toFixed(0)} req/s, bare ${peak(manyBare).toFixed(0)} MB; ${manyGate.result.errors} socket errors)`,
      met: rssRatio <= 1.2,
    },
    {
      target: `RSS flat within 10% over the soak (${settings.soakSec} s at ${MANY_CONNECTIONS} connections)`,
      measured: `min ${soakMin.toFixed(0)} MB, max ${soakMax.toFixed(0)} MB, spread ${(((soakMax - soakMin) / soakMin) * 100).toFixed(1)}% (${soaked.samples.map((s) => s.rss.toFixed(0)).join(', ')} MB); ${soaked.result.rps.toFixed(0)} req/s`,
      met: (soakMax - soakMin) / soakMin <= 0.1,
    },
    {
      target: 'Step Functions StartExecution ≥ 0.95× a direct SDK call',
      measured: sfnRows
        ? `${(sfnRows[1]!.rps / sfnRows[0]!.rps).toFixed(2)}× (${sfnRows[1]!.rps.toFixed(0)} vs ${sfnRows[0]!.rps.toFixed(0)} calls/s), p50 ${sfnRows[1]!.p50Ms.toFixed(2)} vs ${sfnRows[0]!.p50Ms.toFixed(2)} ms`
        : 'not measured: no local Step Functions endpoint',
      met: sfnRows ? sfnRows[1]!.rps / sfnRows[0]!.rps >= 0.95 : undefined,
    },
    {
      target: '401 path no slower than the allow path',
      measured: `401s at ${deny.rps.toFixed(0)} req/s vs allowed at ${allow.rps.toFixed(0)} req/s (${(deny.rps / allow.rps).toFixed(2)}×)`,
      met: deny.rps >= allow.rps,
    },
  ];

  const unexpected = rows.filter((r) => r.unexpected > 0).map((r) => `${r.workload}/${r.target}`);
  const { connections, rounds, warmupSec, durationSec } = settings;
  return [
    `Machine: ${machine(loader)}`,
    `Method: ${connections} connections, ${rounds} round(s) × (${warmupSec} s warm-up + ${durationSec} s measured) per server and workload, medians; GET ${PATH}; ${describePlacement(stack.placement)}; total ${elapsed(started)}`,
    '',
    formatTable(rows),
    '',
    formatChecks(checks),
    ...(unexpected.length > 0 ? ['', `! unexpected statuses or socket errors in: ${unexpected.join(', ')}`] : []),
  ].join('\n');
}
