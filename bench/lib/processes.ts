/**
 * The servers under test run as child processes, one each, so every one has its own event loop,
 * its own heap and an RSS that can be read on its own. Each prints one JSON line with its URL.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinned } from './cpus.ts';

export interface ServerProcess {
  readonly name: string;
  readonly url: string;
  /** Everything the server announced in its first line (`url`, the gateway's `adminUrl`). */
  readonly info: Readonly<Record<string, unknown>>;
  readonly pid: number;
  /** Resident set size now, in MB. */
  rssMb(): number;
  /** Sends `signal` (SIGUSR2 toggles the profiler: servers/profiling.ts). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

const SERVERS_DIR = join(import.meta.dirname, '..', 'servers');
const START_TIMEOUT_MS = 15_000;

/** VmRSS from /proc where there is one (Linux); `ps` elsewhere. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb) return Number(kb) / 1024;
  } catch {
    // not Linux
  }
  const kb = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], {
    encoding: 'utf8',
  }).trim();
  return Number(kb) / 1024;
}

export interface StartOptions {
  readonly args?: readonly string[];
  /** Before the script (`--cpu-prof`). */
  readonly nodeFlags?: readonly string[];
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** A `taskset -c` list (cpus.ts). */
  readonly cpus?: string | undefined;
}

/** Starts `bench/servers/<script>`, waits for its `{"url": …}` line. */
export async function startServer(
  name: string,
  script: string,
  options: StartOptions = {},
): Promise<ServerProcess> {
  const { args = [], nodeFlags = [], env = {} } = options;
  const [command, argv] = pinned(options.cpus, process.execPath, [
    ...nodeFlags,
    join(SERVERS_DIR, script),
    ...args,
  ]);
  const child: ChildProcess = spawn(command, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in time: ${stderr}`)),
      START_TIMEOUT_MS,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"url"'));
      if (!line) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening: ${stderr}`));
    });
  });
  // Whatever the server writes later (the gateway's logs) is read and dropped, never left to block it.
  child.stdout!.resume();
  const pid = child.pid!;
  return {
    name,
    url: String(info['url']),
    info,
    pid,
    rssMb: () => rssMb(pid),
    signal: (signal) => {
      child.kill(signal);
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
