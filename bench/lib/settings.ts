/** What every part of the benchmark shares: the run's settings, fixed paths, and output. */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Loader } from './load.ts';

export interface Settings {
  /** Measured seconds per run. */
  readonly durationSec: number;
  /** Discarded seconds before each measured run. */
  readonly warmupSec: number;
  readonly rounds: number;
  /** Concurrent connections (or callers) of every run but the many-connections check. */
  readonly connections: number;
  readonly soakSec: number;
}

/** The route every HTTP workload requests; the gateway's allow route is `/api/*`. */
export const PATH = '/api/bench/items/42';
/** The gateway's Step Functions route. */
export const SFN_PATH = '/workflows/bench';
export const ROOT = join(import.meta.dirname, '..', '..');

export function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function machine(loader: Loader): string {
  const cpu = cpus();
  return [
    `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GB RAM`,
    `Linux ${release()}, Node ${process.version}, load generator ${loader.name}`,
    // The machine may be shared: what else ran shows here, and ratios are judged with it in mind.
    `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  ].join('; ');
}

/** Seconds since `started` (a `performance.now()`), for progress lines. */
export const elapsed = (started: number): string =>
  `${((performance.now() - started) / 1000).toFixed(0)} s`;
