/**
 * A local Step Functions endpoint for tests and the demo: the AWS JSON 1.0 protocol over a real
 * HTTP server (StartExecution, StartSyncExecution, DescribeExecution, ListExecutions), every
 * request's SigV4 signature verified against the configured keys, state machines that run
 * (`asl.ts`), and on the same port a local STS (AssumeRole) whose credentials this endpoint then
 * accepts. Tests inject faults per operation: throttling, errors, a 500 after the call took effect,
 * hangs and delays.
 *
 *   const sfn = await startLocalStepFunctions({ credentials: [{ accessKeyId, secretAccessKey }],
 *     stateMachines: [{ name: 'deploy', definition }], functions: { deploy: async (input) => … } });
 *   new SFNClient({ endpoint: sfn.url, region: sfn.region, credentials: … });
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenTracked } from '../listen.ts';
import type { TaskFunction } from './asl.ts';
import { verifySigV4, type SigningSecret } from './sigv4.ts';
import { type Execution, ExecutionStore, type LocalStateMachine, type Principal, AwsServiceError } from './store.ts';
import {
  assumeRole,
  assumeRoleXml,
  callerIdentityXml,
  type IssuedCredentials,
  stsErrorXml,
} from './sts.ts';

export type { LocalStateMachine, Execution, Principal };

export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The IAM user these keys belong to (for `startedBy`); default `local`. */
  readonly userName?: string;
}

export interface LocalStepFunctionsOptions {
  /** Default 127.0.0.1 and 0 (a free port). */
  readonly host?: string;
  readonly port?: number;
  /** Default us-east-1 and 123456789012. */
  readonly region?: string;
  readonly accountId?: string;
  /** The long-term keys requests may be signed with. */
  readonly credentials: readonly LocalCredentials[];
  readonly stateMachines?: readonly LocalStateMachine[];
  /** Task functions by name; a Task's `Resource` names one (or is a Lambda ARN ending in it). */
  readonly functions?: Readonly<Record<string, TaskFunction>>;
  /** Roles AssumeRole may assume; default any. */
  readonly allowedRoles?: readonly string[];
}

export type Operation =
  | 'StartExecution'
  | 'StartSyncExecution'
  | 'DescribeExecution'
  | 'ListExecutions'
  | 'AssumeRole'
  | 'GetCallerIdentity';

export type Fault =
  /** ThrottlingException (400) before anything happens; the SDK retries it. */
  | { readonly kind: 'throttle' }
  /** This error code before anything happens (e.g. ExecutionLimitExceeded, AccessDeniedException). */
  | { readonly kind: 'error'; readonly code: string; readonly status?: number; readonly message?: string }
  /** The call takes effect, then the answer is a 500: the client cannot know it worked. */
  | { readonly kind: 'fail-after' }
  /** No answer at all (until the endpoint closes). */
  | { readonly kind: 'hang' }
  | { readonly kind: 'delay'; readonly ms: number };

export interface CallRecord {
  readonly operation: string;
  readonly accessKeyId?: string;
  readonly principal?: Principal;
  readonly status: number;
  readonly errorCode?: string;
  readonly fault?: Fault['kind'];
}

export interface LocalStepFunctions {
  /** `http://HOST:PORT`: the endpoint for both the SFN and the STS client. */
  readonly url: string;
  readonly region: string;
  readonly accountId: string;
  stateMachineArn(name: string): string;
  define(machine: LocalStateMachine): string;
  registerFunction(name: string, fn: TaskFunction): void;
  /** Queues `fault` for the next `times` calls of `operation`. */
  inject(operation: Operation, fault: Fault, times?: number): void;
  clearFaults(): void;
  /** Every call answered, in order (also refused ones). */
  readonly calls: readonly CallRecord[];
  /** Every execution started, oldest first. */
  executions(stateMachineName?: string): Execution[];
  /** Credentials AssumeRole issued. */
  readonly issued: readonly IssuedCredentials[];
  /** Running executions beyond this are refused with ExecutionLimitExceeded. */
  setMaxRunning(limit: number): void;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/x-amz-json-1.0';
const MAX_BODY = 1_048_576;

function epoch(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : date.getTime() / 1000;
}

/** An execution as ListExecutions lists it. */
function summaryJson(e: Execution): Record<string, unknown> {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: epoch(e.startDate),
    stopDate: epoch(e.stopDate),
  };
}

/** An execution as DescribeExecution describes it. */
function describeJson(e: Execution): Record<string, unknown> {
  return {
    ...summaryJson(e),
    input: e.input,
    inputDetails: { included: true },
    output: e.output,
    ...(e.output === undefined ? {} : { outputDetails: { included: true } }),
    error: e.error,
    cause: e.cause,
    traceHeader: e.traceHeader,
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startLocalStepFunctions(
  options: LocalStepFunctionsOptions,
): Promise<LocalStepFunctions> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const store = new ExecutionStore(region, accountId, options.functions ?? {});
  for (const machine of options.stateMachines ?? []) store.define(machine);
  const longTerm = new Map(options.credentials.map((c) => [c.accessKeyId, c]));
  const sessions = new Map<string, IssuedCredentials>();
  const issued: IssuedCredentials[] = [];
  const faults = new Map<string, Fault[]>();
  const calls: CallRecord[] = [];
  const hanging = new Set<ServerResponse>();

  function lookup(accessKeyId: string): (SigningSecret & { principal: Principal }) | undefined {
    const user = longTerm.get(accessKeyId);
    if (user) {
      return {
        secretAccessKey: user.secretAccessKey,
        principal: { arn: `arn:aws:iam::${accountId}:user/${user.userName ?? 'local'}`, accessKeyId },
      };
    }
    const session = sessions.get(accessKeyId);
    if (session && session.expiration.getTime() > Date.now()) {
      return {
        secretAccessKey: session.secretAccessKey,
        sessionToken: session.sessionToken,
        principal: session.principal,
      };
    }
    return undefined;
  }

  function nextFault(operation: string): Fault | undefined {
    const queue = faults.get(operation);
    return queue?.shift();
  }

  async function sfn(
    operation: string,
    body: Record<string, unknown>,
    principal: Principal,
  ): Promise<unknown> {
    switch (operation) {
      case 'StartExecution': {
        const { execution } = store.start(body, principal);
        return { executionArn: execution.executionArn, startDate: epoch(execution.startDate) };
      }
      case 'StartSyncExecution': {
        const e = await store.startSync(body, principal);
        return {
          ...describeJson(e),
          billingDetails: { billedMemoryUsedInMB: 64, billedDurationInMilliseconds: 100 },
        };
      }
      case 'DescribeExecution':
        return describeJson(store.describe(body['executionArn']));
      case 'ListExecutions': {
        const all = store.list(body['stateMachineArn'], body['statusFilter']);
        const max =
          typeof body['maxResults'] === 'number' && body['maxResults'] > 0 ? body['maxResults'] : 100;
        const from = typeof body['nextToken'] === 'string' ? Number(body['nextToken']) : 0;
        const page = all.slice(from, from + max);
        return {
          executions: page.map(summaryJson),
          ...(from + max < all.length ? { nextToken: String(from + max) } : {}),
        };
      }
      default:
        throw new AwsServiceError('UnknownOperationException', `unknown operation ${operation}`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Not AWS: a liveness answer for container health checks (docker-compose.yml), unsigned.
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    const body = await readBody(req);
    const target = req.headers['x-amz-target'];
    const isSfn = typeof target === 'string' && target.startsWith('AWSStepFunctions.');
    const form = isSfn ? undefined : new URLSearchParams(body.toString('utf8'));
    const operation = isSfn ? target.slice('AWSStepFunctions.'.length) : (form?.get('Action') ?? '');
    const record = (status: number, extra: Partial<CallRecord> = {}) =>
      calls.push({ operation, status, ...extra });

    const sendJson = (status: number, payload: unknown) => {
      res
        .writeHead(status, { 'content-type': JSON_TYPE, 'x-amzn-requestid': randomUUID() })
        .end(JSON.stringify(payload));
    };
    const sendError = (status: number, code: string, message: string, extra: Partial<CallRecord> = {}) => {
      record(status, { errorCode: code, ...extra });
      if (isSfn) {
        res
          .writeHead(status, {
            'content-type': JSON_TYPE,
            'x-amzn-errortype': code,
            'x-amzn-requestid': randomUUID(),
          })
          .end(JSON.stringify({ __type: `com.amazonaws.swf.service.v2.model#${code}`, message }));
      } else {
        res.writeHead(status, { 'content-type': 'text/xml' }).end(stsErrorXml(code, message));
      }
    };

    const verdict = await verifySigV4(
      { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      { region, service: isSfn ? 'states' : 'sts' },
      lookup,
    );
    if (!verdict.ok) {
      const code = isSfn
        ? {
            MissingAuthenticationToken: 'MissingAuthenticationTokenException',
            UnrecognizedClient: 'UnrecognizedClientException',
            InvalidSignature: 'InvalidSignatureException',
            SignatureExpired: 'InvalidSignatureException',
          }[verdict.code]
        : {
            MissingAuthenticationToken: 'MissingAuthenticationToken',
            UnrecognizedClient: 'InvalidClientTokenId',
            InvalidSignature: 'SignatureDoesNotMatch',
            SignatureExpired: 'SignatureDoesNotMatch',
          }[verdict.code];
      sendError(isSfn ? 400 : 403, code, verdict.message);
      return;
    }
    const principal = lookup(verdict.accessKeyId)!.principal;
    const who = { accessKeyId: verdict.accessKeyId, principal };

    const fault = nextFault(operation);
    if (fault?.kind === 'hang') {
      record(0, { ...who, fault: 'hang' });
      hanging.add(res);
      return;
    }
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.kind === 'throttle') {
      sendError(400, isSfn ? 'ThrottlingException' : 'Throttling', 'Rate exceeded', {
        ...who,
        fault: 'throttle',
      });
      return;
    }
    if (fault?.kind === 'error') {
      sendError(fault.status ?? 400, fault.code, fault.message ?? fault.code, { ...who, fault: 'error' });
      return;
    }

    try {
      let payload: unknown;
      if (isSfn) {
        const parsed: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          throw new AwsServiceError('SerializationException', 'the body must be a JSON object');
        }
        payload = await sfn(operation, parsed as Record<string, unknown>, principal);
      } else if (operation === 'AssumeRole') {
        const credentials = assumeRole(form!, principal, {
          ...(options.allowedRoles ? { allowedRoles: options.allowedRoles } : {}),
        });
        sessions.set(credentials.accessKeyId, credentials);
        issued.push(credentials);
        payload = assumeRoleXml(credentials);
      } else if (operation === 'GetCallerIdentity') {
        payload = callerIdentityXml(principal, accountId);
      } else {
        throw new AwsServiceError('InvalidAction', `Could not find operation ${operation}`);
      }
      if (fault?.kind === 'fail-after') {
        sendError(
          500,
          isSfn ? 'InternalServerError' : 'InternalFailure',
          'Internal error (injected after the call took effect)',
          {
            ...who,
            fault: 'fail-after',
          },
        );
        return;
      }
      record(200, who);
      if (isSfn) sendJson(200, payload);
      else res.writeHead(200, { 'content-type': 'text/xml' }).end(payload as string);
    } catch (err) {
      if (err instanceof AwsServiceError)
        sendError(err.status, err.code, err.message, who);
      else if (err instanceof SyntaxError)
        sendError(400, 'SerializationException', 'the body is not JSON', who);
      else sendError(500, 'InternalServerError', 'internal error', who);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const listening = await listenTracked(server, options.host, options.port);

  return {
    url: `http://${listening.authority}`,
    region,
    accountId,
    stateMachineArn: (name) => store.stateMachineArn(name),
    define: (machine) => store.define(machine),
    registerFunction: (name, fn) => store.registerFunction(name, fn),
    inject(operation, fault, times = 1) {
      const queue = faults.get(operation) ?? [];
      for (let i = 0; i < times; i++) queue.push(fault);
      faults.set(operation, queue);
    },
    clearFaults: () => faults.clear(),
    calls,
    executions: (name) =>
      store.all().filter((e) => name === undefined || e.stateMachineArn === store.stateMachineArn(name)),
    issued,
    setMaxRunning(limit) {
      store.maxRunning = limit;
    },
    close() {
      store.close();
      for (const res of hanging) res.destroy();
      return listening.close();
    },
  };
}
