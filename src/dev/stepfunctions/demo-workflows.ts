/**
 * The demo's local Step Functions: a `deploy` state machine that builds, waits a few seconds
 * (so its status can be read while it runs), releases and reports who released it — all read
 * from the envelope the gateway sends. `startDemoStepFunctions` serves it where the demo config's
 * `deploy` target points, with keys only the demo uses.
 */
import type { AslDefinition, TaskFunction } from './asl.ts';
import { TaskError } from './asl.ts';
import { type LocalStepFunctions, startLocalStepFunctions } from './server.ts';

/** The demo's AWS keys: the local endpoint accepts only these, the gateway signs with them. */
export const DEMO_AWS_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIASTEPGATEDEMO0001',
  secretAccessKey: 'stepgate-demo-secret-access-key',
});

export const DEPLOY_WORKFLOW: AslDefinition = {
  Comment: 'Build, canary for a few seconds, release: the stepgate demo deployment',
  StartAt: 'Validate',
  States: {
    Validate: {
      Type: 'Choice',
      Choices: [{ Variable: '$.body.version', IsString: true, Next: 'Build' }],
      Default: 'MissingVersion',
    },
    MissingVersion: { Type: 'Fail', Error: 'MissingVersion', Cause: 'send {"service": "…", "version": "…"}' },
    Build: { Type: 'Task', Resource: 'build', ResultPath: '$.build', Next: 'Canary' },
    Canary: { Type: 'Wait', Seconds: 5, Next: 'Release' },
    Release: { Type: 'Task', Resource: 'release', ResultPath: '$.release', Next: 'Done' },
    Done: {
      Type: 'Pass',
      Parameters: {
        'service.$': '$.build.service',
        'version.$': '$.build.version',
        'artifact.$': '$.build.artifact',
        'releasedBy.$': '$.release.releasedBy',
        'releasedAt.$': '$.release.releasedAt',
      },
      End: true,
    },
  },
};

interface Envelope {
  body?: { service?: unknown; version?: unknown };
  caller?: { issuer?: string; sub?: string; clientId?: string | null };
}

const DEMO_FUNCTIONS: Record<string, TaskFunction> = {
  build: (input) => {
    const body = (input as Envelope).body ?? {};
    const service = typeof body.service === 'string' ? body.service : 'app';
    const version = String(body.version);
    if (!/^[\w.+-]{1,64}$/.test(version))
      throw new TaskError('BadVersion', `cannot build version ${JSON.stringify(version)}`);
    return { service, version, artifact: `registry.local/${service}:${version}` };
  },
  release: (input) => {
    const caller = (input as Envelope).caller ?? {};
    return {
      releasedBy: `${caller.clientId ?? caller.sub} (${caller.issuer}/${caller.sub})`,
      releasedAt: new Date().toISOString(),
    };
  },
};

/** Serves the demo's `deploy` state machine at `endpoint` (the `deploy` target's). */
export function startDemoStepFunctions(
  endpoint: string,
  region: string,
  accountId: string,
): Promise<LocalStepFunctions> {
  const url = new URL(endpoint);
  return startLocalStepFunctions({
    host: url.hostname,
    port: Number(url.port || 80),
    region,
    accountId,
    credentials: [{ ...DEMO_AWS_CREDENTIALS, userName: 'stepgate-demo' }],
    stateMachines: [{ name: 'deploy', definition: DEPLOY_WORKFLOW }],
    functions: DEMO_FUNCTIONS,
  });
}
