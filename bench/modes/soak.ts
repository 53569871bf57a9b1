/**
 * `--soak`: fresh-token load on stepgate (every request a cache miss, so the caches churn at
 * their bounds), printing RSS every 30 s. "Flat" is judged after a discarded warm-up in which the
 * heap grows to its working size.
 */
import type { Loader } from '../lib/load.ts';
import { type Check, formatChecks } from '../lib/report.ts';
import { machine, type Settings, say } from '../lib/settings.ts';
import { createRunner, type Stack } from '../lib/stack.ts';
import type { Workloads } from '../lib/workloads.ts';

const INTERVAL_SEC = 30;
const WARMUP_SEC = 30;

export async function soak(
  stack: Stack,
  loader: Loader,
  workloads: Workloads,
  settings: Settings,
) {
  const runner = createRunner(loader, stack, settings);
  say(
    `  warm-up ${WARMUP_SEC} s (discarded), then ${settings.soakSec} s of fresh-token load on stepgate (${settings.connections} connections)`,
  );
  await runner.once('stepgate', workloads.fresh, WARMUP_SEC);
  const samples = [{ t: 0, rss: stack.gateway.rssMb() }];
  const started = performance.now();
  const sample = () => {
    const s = {
      t: Math.round((performance.now() - started) / 1000),
      rss: stack.gateway.rssMb(),
    };
    samples.push(s);
    say(`  t=${String(s.t).padStart(4)} s  RSS ${s.rss.toFixed(1)} MB`);
  };
  say(`  t=   0 s  RSS ${samples[0]!.rss.toFixed(1)} MB`);
  const timer = setInterval(sample, INTERVAL_SEC * 1000);
  const result = await runner.once(
    'stepgate',
    workloads.fresh,
    settings.soakSec,
  );
  clearInterval(timer);
  // The last tick may have landed as the load ended: one sample per moment.
  if ((performance.now() - started) / 1000 - samples.at(-1)!.t >= 1) sample();
  const values = samples.map((s) => s.rss);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const check: Check = {
    target: 'RSS flat within 10% over the soak',
    measured: `min ${min.toFixed(1)} MB, max ${max.toFixed(1)} MB, spread ${(((max - min) / min) * 100).toFixed(1)}%; ${result.rps.toFixed(0)} req/s, ${result.non2xx + result.errors} unexpected`,
    met: (max - min) / min <= 0.1,
  };
  return [
    `Machine: ${machine(loader)}`,
    `Soak: ${settings.soakSec} s after ${WARMUP_SEC} s of warm-up, fresh token per request, ${settings.connections} connections`,
    samples.map((s) => `t=${s.t}s ${s.rss.toFixed(1)} MB`).join(', '),
    formatChecks([check]),
  ].join('\n');
}
