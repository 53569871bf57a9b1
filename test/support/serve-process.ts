/** `stepgate serve` as a real process, the way an operator starts it (bin/stepgate.js). */
import { type ChildProcess, spawn } from 'node:child_process';

export interface Serve {
  readonly child: ChildProcess;
  /** Resolves with the gateway's URL once it listens; rejects with the output if it exits first. */
  readonly listening: Promise<string>;
  readonly exited: Promise<{ code: number | null; at: number }>;
  output(): string;
}

export function serve(configFile: string, env: NodeJS.ProcessEnv = {}): Serve {
  const child = spawn(process.execPath, ['bin/stepgate.js', 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, at: performance.now() })),
  );
  const listening = new Promise<string>((resolve, reject) => {
    // Logs go to stderr by default (logging.destination); a config may send them to stdout.
    const onData = () => {
      const line = output.split('\n').find((l) => l.includes('stepgate listening'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`serve exited:\n${output}`)));
  });
  listening.catch(() => undefined); // awaited only by the tests that expect it to listen
  return { child, listening, exited, output: () => output };
}
