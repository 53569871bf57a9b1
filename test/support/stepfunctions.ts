/**
 * The local Step Functions endpoint (src/dev/stepfunctions) with the state machines tests use,
 * and a gateway config in front of it:
 *
 *   useTestAwsCredentials();                 // the SDK's default chain finds these (env)
 *   const sfn = await startTestStepFunctions();
 *   const gateway = await startGateway(stepFunctionsConfig(issuer, sfn));
 *   POST /workflows/deploy (async, envelope) · POST /workflows/check (sync, Express)
 *   GET /executions/{arn} (readAnyExecution: role auditor)
 */
import { randomBytes } from 'node:crypto';
import type { AslDefinition, TaskFunction } from '../../src/dev/stepfunctions/asl.ts';
import {
  type Execution,
  type LocalStepFunctions,
  type LocalStepFunctionsOptions,
  startLocalStepFunctions,
} from '../../src/dev/stepfunctions/server.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import type { TestGateway } from './gateway.ts';
import type { TestIssuer } from './issuer.ts';

export const TEST_AWS = Object.freeze({
  accessKeyId: 'AKIASTEPGATETEST0001',
  secretAccessKey: 'stepgate-test-secret-access-key-0001',
});

/**
 * The SDK's default credential chain reads these from the environment (each test file runs in
 * its own process). IMDS is off so a missing key never waits on a metadata endpoint.
 */
export function useTestAwsCredentials(): void {
  process.env['AWS_ACCESS_KEY_ID'] = TEST_AWS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = TEST_AWS.secretAccessKey;
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
}

/** deploy (Standard): records its input, waits `$.body.waitSeconds`, fails when `$.body.fail`. */
export const DEPLOY_DEFINITION: AslDefinition = {
  StartAt: 'Deploy',
  States: {
    Deploy: { Type: 'Task', Resource: 'deploy', ResultPath: '$.deployment', Next: 'Settle' },
    Settle: { Type: 'Wait', SecondsPath: '$.deployment.waitSeconds', Next: 'Check' },
    Check: {
      Type: 'Choice',
      Choices: [{ Variable: '$.deployment.fail', BooleanEquals: true, Next: 'Failed' }],
      Default: 'Done',
    },
    Failed: { Type: 'Fail', Error: 'DeployFailed', Cause: 'the deployment failed its checks' },
    Done: { Type: 'Pass', Parameters: { 'deployment.$': '$.deployment' }, End: true },
  },
};

/** check (Express, for sync): greets, fails with DeployFailed, or times out (TimeoutSeconds 1). */
export const CHECK_DEFINITION: AslDefinition = {
  StartAt: 'Route',
  TimeoutSeconds: 1,
  States: {
    Route: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.body.fail', IsPresent: true, Next: 'Fail' },
        { Variable: '$.body.sleep', IsPresent: true, Next: 'Sleep' },
      ],
      Default: 'Greet',
    },
    Greet: { Type: 'Task', Resource: 'greet', End: true },
    Fail: { Type: 'Fail', Error: 'DeployFailed', Cause: 'health check "db" failed\nline two' },
    Sleep: { Type: 'Wait', Seconds: 5, End: true },
  },
};

export interface TestStepFunctions extends LocalStepFunctions {
  /** Inputs the deploy Task saw, in order. */
  readonly deployInputs: unknown[];
  /** How many times the greet Task ran (one per Express execution that greets). */
  greetCalls(): number;
  /** The execution with this ARN, once it has stopped. */
  finished(executionArn: string): Promise<Execution>;
}

export async function startTestStepFunctions(
  options: Partial<LocalStepFunctionsOptions> = {},
): Promise<TestStepFunctions> {
  const deployInputs: unknown[] = [];
  let greets = 0;
  const functions: Record<string, TaskFunction> = {
    deploy: (input) => {
      deployInputs.push(input);
      const body = (input as { body?: Record<string, unknown> } | null)?.body ?? {};
      return {
        waitSeconds: Number(body['waitSeconds'] ?? 0),
        fail: body['fail'] === true,
        version: body['version'] ?? null,
      };
    },
    greet: (input) => {
      greets++;
      const envelope = input as { body?: { name?: string }; caller?: { sub?: string } };
      return { greeting: `hello ${envelope.body?.name ?? 'world'}`, caller: envelope.caller?.sub ?? null };
    },
    ...options.functions,
  };
  const sfn = await startLocalStepFunctions({
    credentials: [TEST_AWS],
    stateMachines: [
      { name: 'deploy', definition: DEPLOY_DEFINITION },
      { name: 'check', type: 'EXPRESS', definition: CHECK_DEFINITION },
    ],
    ...options,
    functions,
  });
  return Object.assign(sfn, {
    deployInputs,
    greetCalls: () => greets,
    async finished(executionArn: string) {
      const execution = sfn.executions().find((e) => e.executionArn === executionArn);
      if (!execution) throw new Error(`no execution ${executionArn}`);
      return execution.done;
    },
  });
}

/** A unique suffix, so tests sharing Redis never meet. */
export function uniqueId(): string {
  return randomBytes(6).toString('hex');
}

export interface StepFunctionsConfigOptions {
  readonly deploy?: Record<string, unknown>;
  readonly check?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
}

/** The gateway config in front of `sfn`: routes deploy, check, executions. */
export function stepFunctionsConfig(
  issuer: TestIssuer,
  sfn: LocalStepFunctions,
  options: StepFunctionsConfigOptions = {},
): Record<string, unknown> {
  return {
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
    targets: {
      deploy: {
        type: 'stepfunctions',
        stateMachineArn: sfn.stateMachineArn('deploy'),
        region: sfn.region,
        endpoint: sfn.url,
        timeoutMs: 2000,
        ...options.deploy,
      },
      check: {
        type: 'stepfunctions',
        stateMachineArn: sfn.stateMachineArn('check'),
        region: sfn.region,
        endpoint: sfn.url,
        mode: 'sync',
        timeoutMs: 3000,
        ...options.check,
      },
    },
    routes: [
      {
        name: 'deploy',
        path: '/workflows/deploy',
        methods: ['POST'],
        target: 'deploy',
        allow: { scopes: ['deploy:start'] },
      },
      {
        name: 'deploy-again',
        path: '/workflows/deploy-again',
        methods: ['POST'],
        target: 'deploy',
        allow: { scopes: ['deploy:start'] },
      },
      {
        name: 'check',
        path: '/workflows/check',
        methods: ['POST'],
        target: 'check',
        allow: { scopes: ['deploy:start'] },
      },
      {
        name: 'executions',
        path: '/executions/*',
        methods: ['GET'],
        target: 'deploy',
        allow: { anyScopes: ['deploy:start', 'deploy:read'] },
        readAnyExecution: { roles: ['auditor'] },
      },
    ],
    audit: { claims: ['email', 'repository'] },
    ...options.extra,
  };
}

export interface CallResult {
  readonly res: Response;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** A request to the gateway with a bearer token; JSON bodies are sent as application/json. */
export async function call(
  gateway: TestGateway,
  path: string,
  init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<CallResult> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  let body: RequestInit['body'];
  if (typeof init.body === 'string' || init.body instanceof Uint8Array)
    body = init.body as RequestInit['body'];
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const res = await fetch(gateway.url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  return { res, text, json: <T>() => JSON.parse(text) as T };
}

/** The audit records of one request: the intent (if any) and the outcome. */
export async function auditOf(
  gateway: TestGateway,
  requestId: string,
): Promise<{ intent: AuditRecord | undefined; outcome: AuditRecord }> {
  for (let i = 0; i < 100; i++) {
    const records = (await gateway.auditRecords()).filter((r) => r.requestId === requestId);
    const outcome = records.find((r) => r.phase !== 'intent');
    if (outcome) return { intent: records.find((r) => r.phase === 'intent'), outcome };
  }
  throw new Error(`no outcome record for ${requestId}`);
}
