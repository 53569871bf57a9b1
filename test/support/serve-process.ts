/** `stepgate serve` as a real process, the way an operator starts it (bin/stepgate.js). */
import { type ChildProcess, spawn } from 'node:child_process';

export interface Serve {
  readonly child: ChildProcess;
  /** Resolves with the gateway's URL once it listens; rejects with the output if it exits first. */
  readonly listening: Promise<string>;
  /** The whole "stepgate listening" log line: `url`, `adminUrl` and, with `decision`, `decisionUrl`. */
  readonly announced: Promise<Listening>;
  readonly exited: Promise<{ code: number | null; at: number }>;
  output(): string;
}

export interface Listening {
  readonly url: string;
  readonly adminUrl: string;
  readonly decisionUrl?: string;
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
  const announced = new Promise<Listening>((resolve, reject) => {
    // Logs go to stderr by default (logging.destination); a config may send them to stdout.
    const onData = () => {
      const line = output.split('\n').find((l) => l.includes('stepgate listening'));
      if (line) resolve(JSON.parse(line) as Listening);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`serve exited:\n${output}`)));
  });
  const listening = announced.then((line) => line.url);
  // Awaited only by the tests that expect it to listen.
  announced.catch(() => undefined);
  listening.catch(() => undefined);
  return { child, listening, announced, exited, output: () => output };
}
