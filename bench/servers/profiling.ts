/**
 * On-demand CPU profiles for the servers under test: with `BENCH_PROFILE_DIR` set, SIGUSR2 starts
 * the V8 profiler and the next SIGUSR2 stops it, writing `<dir>/profile.cpuprofile` and
 * `<dir>/profile.json` (`{ cpuUs }`: the main thread's CPU time while it ran). The profile then
 * holds only the measured load — no start-up, no warm-up — and the CPU time, unlike the profile's
 * wall-clock samples, does not grow when other processes take the CPU away.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export function enableProfiling(): void {
  const dir = process.env['BENCH_PROFILE_DIR'];
  if (!dir) return;
  const session = new Session();
  session.connect();
  let started: NodeJS.CpuUsage | undefined;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!started) {
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 200 });
        await session.post('Profiler.start');
        started = process.threadCpuUsage();
        return;
      }
      const used = process.threadCpuUsage(started);
      const { profile } = await session.post('Profiler.stop');
      started = undefined;
      writeFileSync(join(dir, 'profile.cpuprofile'), JSON.stringify(profile));
      writeFileSync(join(dir, 'profile.json'), JSON.stringify({ cpuUs: used.user + used.system }));
    })();
  });
}
