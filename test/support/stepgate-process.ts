/**
 * A long-running `stepgate` command (`serve`, `dev upstream`, …) as its own process, the way an
 * operator or a container runs it: started with `bin/stepgate.js`, ready once a line matching
 * `ready` appears on its stdout or stderr, stopped by a signal.
 *
 *   const gw = await startStepgate(['serve', '--config', file], { ready: /stepgate listening/ });
 *   const { url } = JSON.parse(gw.readyLine);
 *   assert.equal(await gw.stop(), 0);
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after } from 'node:test';

export const ROOT = join(import.meta.dirname, '..', '..');

/** Processes still running when the test file ends are killed then (a failed test leaves some). */
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

export interface StepgateProcess {
  readonly child: ChildProcess;
  /** The first line that matched `ready`. */
  readonly readyLine: string;
  /** Everything written so far, stdout and stderr apart. */
  stdout(): string;
  stderr(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  readonly ready: RegExp;
  readonly env?: Readonly<Record<string, string>>;
  /** Default: the repository root. */
  readonly cwd?: string;
  /** Default: this repository's bin/stepgate.js. */
  readonly bin?: string;
  readonly timeoutMs?: number;
}

/** Starts `stepgate …args`; killed when the test file ends if still running. */
export async function startStepgate(args: readonly string[], options: StartOptions): Promise<StepgateProcess> {
  const { STEPGATE_CONFIG: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [options.bin ?? join(ROOT, 'bin', 'stepgate.js'), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...inherited, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readyLine = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const line = `${out}\n${err}`.split('\n').find((l) => options.ready.test(l));
      if (line !== undefined) resolve(line);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      check();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      check();
    });
    const timer = setTimeout(() => reject(new Error(`stepgate ${args.join(' ')}: not ready in time\n${out}\n${err}`)), options.timeoutMs ?? 30_000);
    timer.unref();
    child.once('exit', (code) => reject(new Error(`stepgate ${args.join(' ')} exited (${code}) before ready:\n${out}\n${err}`)));
  });
  return {
    child,
    readyLine,
    stdout: () => out,
    stderr: () => err,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
