/**
 * `stepgate dev upstream|stepfunctions`: one part of the demo stack as its own process, so a
 * container (docker-compose.yml) or a shell can run it next to a gateway. Prints its URL once
 * listening, stops cleanly on SIGTERM or SIGINT.
 */
import { DEMO_AWS_CREDENTIALS, startDemoStepFunctions } from '../dev/stepfunctions/demo-workflows.ts';
import { startEchoUpstream } from '../dev/upstream.ts';
import { InputError } from './input-error.ts';

export type DevServer = 'upstream' | 'stepfunctions';

export interface DevOptions {
  readonly host: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
}

async function start(server: DevServer, options: DevOptions): Promise<{ url: string; close(): Promise<void> }> {
  switch (server) {
    case 'upstream':
      return startEchoUpstream({ host: options.host, port: options.port });
    case 'stepfunctions': {
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      return startDemoStepFunctions(`http://${host}:${options.port}`, options.region, options.accountId);
    }
    default: {
      const never: never = server;
      throw new InputError(`unknown dev server ${String(never)}`);
    }
  }
}

/** Runs `server` until SIGTERM or SIGINT. */
export async function runDevServer(server: DevServer, options: DevOptions): Promise<void> {
  const running = await start(server, options);
  const extra =
    server === 'stepfunctions'
      ? ` (state machine arn:aws:states:${options.region}:${options.accountId}:stateMachine:deploy; keys ${DEMO_AWS_CREDENTIALS.accessKeyId})`
      : '';
  process.stdout.write(`stepgate dev ${server}: listening on ${running.url}${extra}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
