/**
 * The default mode: every workload against direct, bare and stepgate in alternating rounds; the
 * Step Functions path against a direct SDK call; latency at half the bare proxy's peak; peak RSS
 * at 1,000 connections; then the table and the targets, each met or missed by how much.
 */
import { describePlacement } from '../lib/cpus.ts';
import type { Loader } from '../lib/load.ts';
import {
  aggregate,
  type Check,
  formatChecks,
  formatTable,
  type Measurement,
  type Row,
  type TargetName,
} from '../lib/report.ts';
import {
  elapsed,
  machine,
  PATH,
  SFN_PATH,
  type Settings,
  say,
} from '../lib/settings.ts';
import {
  closedLoop,
  directInProcess,
  type SfnEndpoint,
  viaGateway,
} from '../lib/sfn.ts';
import { createRunner, type Runner, rotate, type Stack } from '../lib/stack.ts';
import type { Workloads } from '../lib/workloads.ts';

const MANY_CONNECTIONS = 1000;
const TARGETS: readonly TargetName[] = ['direct', 'bare', 'stepgate'];

/**
 * StartExecution through stepgate (intent audited durably, SigV4 by the gateway) and directly with
 * the SDK, alternating; rows `direct` (the SDK call) and `stepgate`.
 */
async function stepFunctions(
  stack: Stack,
  workloads: Workloads,
  settings: Settings,
): Promise<Row[]> {
  const endpoint = stack.sfn!.info as unknown as SfnEndpoint;
  const token = workloads.repeated.tokens.tokens[0]!;
  const { connections, warmupSec, durationSec } = settings;
  const measure = async (
    target: 'direct' | 'stepgate',
  ): Promise<Measurement> => {
    if (target === 'direct') {
      const result = await directInProcess(
        endpoint,
        connections,
        warmupSec,
        durationSec,
        stack.placement.proxy,
      );
      return { ...result, rssMb: stack.sfn!.rssMb() };
    }
    const client = viaGateway(stack.gateway.url, SFN_PATH, token, connections);
    try {
      await closedLoop(client.call, connections, warmupSec);
      const result = await closedLoop(client.call, connections, durationSec);
      return { ...result, rssMb: stack.gateway.rssMb() };
    } finally {
      await client.close();
    }
  };
  const runs = { direct: [] as Measurement[], stepgate: [] as Measurement[] };
  for (let round = 0; round < settings.rounds; round++) {
    for (const target of rotate(['direct', 'stepgate'] as const, round))
      runs[target].push(await measure(target));
  }
  const label = 'Step Functions StartExecution (direct: SDK)';
  return [
    aggregate(label, 'direct', runs.direct),
    aggregate(label, 'stepgate', runs.stepgate),
  ];
}

/** Peak RSS of `target` while `MANY_CONNECTIONS` connections keep it busy. */
async function peakRss(
  runner: Runner,
  target: TargetName,
  workloads: Workloads,
  settings: Settings,
) {
  const server = runner.serverOf(target);
  let peak = server.rssMb();
  const timer = setInterval(() => {
    peak = Math.max(peak, server.rssMb());
  }, 200);
  const result = await runner.once(
    target,
    workloads.rotating,
    settings.warmupSec + settings.durationSec,
    {
      connections: MANY_CONNECTIONS,
    },
  );
  clearInterval(timer);
  return { peak: Math.max(peak, server.rssMb()), result };
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
    const runs = new Map<TargetName, Measurement[]>(
      TARGETS.map((t) => [t, []]),
    );
    for (let round = 0; round < settings.rounds; round++) {
      for (const target of rotate(TARGETS, round + rows.length)) {
        runs.get(target)!.push(await runner.measure(target, workload));
      }
    }
    for (const target of TARGETS)
      rows.push(aggregate(workload.label, target, runs.get(target)!));
    say(
      `  ${workload.label}: stepgate ${find(workload.label, 'stepgate').rps.toFixed(0)} req/s (${elapsed(started)})`,
    );
  }

  const sfnRows = stack.sfn
    ? await stepFunctions(stack, workloads, settings)
    : undefined;
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
      paced[target].push(
        await runner.measure(target, workloads.repeated, { ratePerSec: rate }),
      );
    }
  }
  rows.push(
    aggregate(pacedLabel, 'bare', paced.bare),
    aggregate(pacedLabel, 'stepgate', paced.stepgate),
  );
  say(`  paced latency done (${elapsed(started)})`);

  const manyBare = await peakRss(runner, 'bare', workloads, settings);
  const manyGate = await peakRss(runner, 'stepgate', workloads, settings);
  say(`  1,000 connections done (${elapsed(started)})`);

  const ratio = (label: string) =>
    find(label, 'stepgate').rps / find(label, 'bare').rps;
  const allow = find(workloads.repeated.label, 'stepgate');
  const deny = find(workloads.deny.label, 'stepgate');
  const halfBare = find(pacedLabel, 'bare');
  const halfGate = find(pacedLabel, 'stepgate');
  const addedP99 = halfGate.p99Ms - halfBare.p99Ms;
  const coarse = loader.resolutionMs >= 1;
  const throughput = (label: string, min: number): Check => ({
    target: `≥ ${min}× bare, ${label}`,
    measured: `${ratio(label).toFixed(2)}×`,
    met: ratio(label) >= min,
  });
  const checks: Check[] = [
    throughput(workloads.repeated.label, 0.9),
    throughput(workloads.rotating.label, 0.8),
    throughput(workloads.fresh.label, 0.6),
    {
      target: 'p99 added over bare ≤ 1 ms at ½ its peak',
      measured:
        `${addedP99.toFixed(2)} ms (p99 ${halfGate.p99Ms.toFixed(2)} vs ${halfBare.p99Ms.toFixed(2)} ms; ${halfGate.rps.toFixed(0)} and ${halfBare.rps.toFixed(0)} req/s reached)` +
        (coarse ? `; not judged: ${loader.name} measures whole milliseconds` : ''),
      // A 1 ms target cannot be judged with a 1 ms histogram.
      met: coarse ? undefined : addedP99 <= 1,
    },
    {
      target: `RSS ≤ 150 MB at ${MANY_CONNECTIONS} connections`,
      measured: `stepgate peak ${manyGate.peak.toFixed(0)} MB at ${manyGate.result.rps.toFixed(0)} req/s (bare ${manyBare.peak.toFixed(0)} MB); ${manyGate.result.errors} socket errors`,
      met: manyGate.peak <= 150,
    },
    {
      target: '401 path no slower than the allow path',
      measured: `401s at ${deny.rps.toFixed(0)} req/s vs allowed at ${allow.rps.toFixed(0)} req/s (${(deny.rps / allow.rps).toFixed(2)}×), p50 ${deny.p50Ms.toFixed(2)} vs ${allow.p50Ms.toFixed(2)} ms`,
      met: deny.rps >= allow.rps,
    },
    {
      target: 'RSS flat within 10% over the soak',
      measured: 'run `npm run bench -- --soak`',
      met: undefined,
    },
    {
      target:
        'Step Functions StartExecution, stepgate vs a direct SDK call (no target set)',
      measured: sfnRows
        ? `${sfnRows[1]!.rps.toFixed(0)} vs ${sfnRows[0]!.rps.toFixed(0)} calls/s (${(sfnRows[1]!.rps / sfnRows[0]!.rps).toFixed(2)}×), p50 ${sfnRows[1]!.p50Ms.toFixed(2)} vs ${sfnRows[0]!.p50Ms.toFixed(2)} ms, p99 ${sfnRows[1]!.p99Ms.toFixed(2)} vs ${sfnRows[0]!.p99Ms.toFixed(2)} ms`
        : 'pending: src/targets/stepfunctions has not landed',
      met: undefined,
    },
  ];

  const unexpected = rows
    .filter((r) => r.unexpected > 0)
    .map((r) => `${r.workload}/${r.target}`);
  const { connections, rounds, warmupSec, durationSec } = settings;
  return [
    `Machine: ${machine(loader)}`,
    `Method: ${connections} connections, ${rounds} round(s) × (${warmupSec} s warm-up + ${durationSec} s measured) per server and workload, medians; GET ${PATH}; ${describePlacement(stack.placement)}; total ${elapsed(started)}`,
    '',
    formatTable(rows),
    '',
    formatChecks(checks),
    ...(unexpected.length > 0
      ? [
          '',
          `! unexpected statuses or socket errors in: ${unexpected.join(', ')}`,
        ]
      : []),
  ].join('\n');
}
