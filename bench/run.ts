/**
 * `npm run bench`: stepgate against a bare @fastify/http-proxy and against the upstream itself,
 * on loopback, in one run, so every number that matters is a ratio measured minutes apart on the
 * same machine. See docs/performance.md.
 *
 *   npm run bench                    every row and target of issue 11, with a 5-minute soak (~9 min)
 *   npm run bench -- --quick         one short round of everything, a 30 s soak (under 2 minutes)
 *   npm run bench -- --profile       CPU profiles of stepgate per workload, summarized
 *
 * Method: child processes (upstream, bare proxy, stepgate, local Step Functions) and a load
 * generator (wrk when installed, else autocannon). For each workload, each round loads direct,
 * bare and stepgate in turn (the order rotates per round), each with a discarded warm-up and then
 * a measured run at fixed connections and duration. The table holds the medians over rounds.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPlacement, describePlacement } from './lib/cpus.ts';
import { startBenchIssuer } from './lib/issuer.ts';
import { createLoader } from './lib/load.ts';
import { type Settings, say } from './lib/settings.ts';
import { type Stack, smokeCheck, startStack } from './lib/stack.ts';
import { makeWorkloads } from './lib/workloads.ts';
import { benchmark } from './modes/benchmark.ts';
import { profile } from './modes/profile.ts';

const USAGE = `usage: npm run bench -- [--quick | --profile] [options]
  --quick              one round of 2 s runs and a 30 s soak: a smoke test of the numbers
  --profile            profile stepgate (--cpu-prof) per workload and summarize where time goes
  --duration S         measured seconds per run (default 4)
  --warmup S           discarded seconds before each run (default 1)
  --rounds N           rounds per workload (default 2)
  --connections N      concurrent connections (default 50)
  --soak-seconds S     how long stepgate is soaked at 1,000 connections (default 300; --quick 30)
  --loader wrk|autocannon   force a load generator (default: wrk when installed)
  --no-pin             do not pin the proxies to CPU 0 and everything else to the other CPUs
  --out FILE           also write the report (Markdown) to FILE`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    'soak-seconds': { type: 'string' },
    loader: { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

/** A positive number from an option, bounded so a typo cannot start an hour-long run. */
function option(
  value: string | undefined,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max)
    throw new RangeError(`option value ${value}: 0 < n ≤ ${max}`);
  return n;
}

async function main(): Promise<void> {
  if (args.help) {
    say(USAGE);
    return;
  }
  if (
    args.loader !== undefined &&
    args.loader !== 'wrk' &&
    args.loader !== 'autocannon'
  ) {
    throw new RangeError(`--loader ${args.loader}: wrk or autocannon`);
  }
  const settings: Settings = {
    durationSec: option(args.duration, args.quick ? 2 : 4, 120),
    warmupSec: option(args.warmup, 1, 30),
    rounds: Math.round(option(args.rounds, args.quick ? 1 : 2, 10)),
    connections: Math.round(option(args.connections, 50, 2000)),
    soakSec: option(args['soak-seconds'], args.quick ? 30 : 300, 3600),
  };
  const mode = args.profile ? 'profile' : args.quick ? 'quick' : 'default';
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-bench-'));
  const placement = createPlacement(!args['no-pin']);
  const loader = await createLoader(dir, args.loader, placement.rest);
  say(
    `stepgate bench (${mode}; ${loader.name}; ${describePlacement(placement)})`,
  );
  const issuer = await startBenchIssuer();
  let stack: Stack | undefined;
  try {
    const workloads = makeWorkloads(issuer);
    stack = await startStack(issuer, dir, placement);
    await smokeCheck(stack, workloads);
    const run = args.profile ? profile : benchmark;
    const report = await run(stack, loader, workloads, settings);
    say();
    say(report);
    if (args.out) writeFileSync(args.out, `${report}\n`);
  } finally {
    await stack?.stop();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
