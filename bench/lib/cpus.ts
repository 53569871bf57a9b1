/**
 * CPU placement (Linux, `taskset`): the proxy under test — bare or stepgate, one at a time — gets
 * CPU 0 to itself; the upstream, the load generator, the local Step Functions endpoint and this
 * process share the others. Each proxy is then measured as it is deployed, one Node process per
 * core, and run-to-run noise from the load generator competing with it goes away. Without
 * `taskset` or with a single CPU, nothing is pinned.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

export interface Placement {
  /** `taskset -c` lists; `undefined` when not pinning. */
  readonly proxy: string | undefined;
  readonly rest: string | undefined;
}

export const UNPINNED: Placement = { proxy: undefined, rest: undefined };

export function createPlacement(enabled: boolean): Placement {
  const count = cpus().length;
  if (
    !enabled ||
    count < 2 ||
    spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' })
      .status !== 0
  ) {
    return UNPINNED;
  }
  const placement = { proxy: '0', rest: count === 2 ? '1' : `1-${count - 1}` };
  // This process (all its threads) too: it runs the Step Functions callers and, without wrk, autocannon.
  spawnSync('taskset', ['-a', '-cp', placement.rest, String(process.pid)], {
    stdio: 'ignore',
  });
  return placement;
}

/** `command args` run on `cpuList` (`taskset` execs it: the pid is the command's). */
export function pinned(
  cpuList: string | undefined,
  command: string,
  args: readonly string[],
): [string, string[]] {
  return cpuList
    ? ['taskset', ['-c', cpuList, command, ...args]]
    : [command, [...args]];
}

export function describePlacement(placement: Placement): string {
  return placement.proxy
    ? `proxies pinned to CPU ${placement.proxy}; upstream, load generator and the rest on CPU ${placement.rest}`
    : 'no CPU pinning';
}
