/**
 * The local stand-ins `stepgate demo` starts where config/demo.yaml's targets point: the Step
 * Functions endpoint (`deploy`) and the argo-server (`deploy-argo`). An address in use is named
 * as a problem of the config, with the variable that moves it.
 */
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { startDemoArgo } from './argo/demo-workflows.ts';
import type { LocalArgo } from './argo/server.ts';
import { DEMO_AWS_CREDENTIALS, startDemoStepFunctions } from './stepfunctions/demo-workflows.ts';
import type { LocalStepFunctions } from './stepfunctions/server.ts';

/** An address in use is a problem of the config (or its env overrides), named as such. */
export async function listening<T>(start: () => Promise<T>, keyPath: string, what: string, variable: string) {
  try {
    return await start();
  } catch (err) {
    // startGateway wraps its listen errors (serve.ts); the others come straight from listen.
    const code = (err as NodeJS.ErrnoException).code ?? ((err as Error).cause as NodeJS.ErrnoException)?.code;
    if (code !== 'EADDRINUSE') throw err;
    const message = `${what}: the address is in use; stop what holds it or set ${variable}`;
    throw new ConfigError([{ path: keyPath, message }], { cause: err });
  }
}

/**
 * The local Step Functions endpoint where the `deploy` target points. The gateway finds the
 * demo's keys through the SDK's credential chain (the environment of this demo process), and the
 * endpoint accepts only those: real AWS keys in the environment are never sent anywhere.
 */
export async function startStepFunctions(config: Config): Promise<LocalStepFunctions | undefined> {
  const target = config.targets['deploy'];
  if (target?.type !== 'stepfunctions' || !target.endpoint) return undefined;
  const [, , , region = target.region, account = '123456789012'] = target.stateMachineArn.split(':');
  process.env['AWS_ACCESS_KEY_ID'] = DEMO_AWS_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = DEMO_AWS_CREDENTIALS.secretAccessKey;
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];
  return listening(
    () => startDemoStepFunctions(target.endpoint!, region, account),
    'targets.deploy.endpoint',
    `${new URL(target.endpoint).host} (the local Step Functions endpoint)`,
    'STEPGATE_DEMO_SFN_PORT',
  );
}

/**
 * The local argo-server where the `deploy-argo` target points, only on loopback (the demo never
 * writes a token for a real argo-server), with a token for this run in the target's `tokenFile`.
 */
export async function startArgo(config: Config, clock: (() => number) | undefined): Promise<LocalArgo | undefined> {
  const target = config.targets['deploy-argo'];
  if (target?.type !== 'argo') return undefined;
  const server = new URL(target.server);
  if (!/^(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(server.hostname)) return undefined;
  return listening(
    () => startDemoArgo(target, clock ? { clock } : {}),
    'targets.deploy-argo.server',
    `${server.host} (the local argo-server)`,
    'STEPGATE_DEMO_ARGO_PORT',
  );
}
