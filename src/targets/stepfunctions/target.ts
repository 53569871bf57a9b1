/**
 * Step Functions targets (DESIGN.md "Request path → Step Functions targets"). POST starts an
 * execution named for the caller and their `Idempotency-Key`; GET/HEAD reads one. The request
 * never chooses the state machine: it is the target's. Before any AWS call the intent is written
 * to the audit log durably; the outcome record (with executionArn, executionName and the AWS
 * error code) follows from the audit plugin when the response is sent. Like every target, it
 * takes a call and answers an `Outcome` (../target.ts).
 */
import type { RouteConfig, StepFunctionsTargetConfig } from '../../config/schema.ts';
import { GatewayError, isGatewayError } from '../../errors.ts';
import type { GatewayMetrics } from '../../metrics/metrics.ts';
import { type ExecutionsRoute, statusUrlBase } from '../../policy/execution-routes.ts';
import { type ExecutionCall, executionCall, type Outcome, type RecentExecution } from '../execution/call.ts';
import { parseJsonBody } from '../execution/json-body.ts';
import { executionName, idempotencyKey } from '../execution/naming.ts';
import { executionIdFromPath } from '../execution/read-access.ts';
import type { Target } from '../target.ts';
import { awsErrorCode } from './aws-errors.ts';
import { type ClientSource, createClientSource } from './clients.ts';
import { createDedupeStore, type DedupeStore } from './dedupe.ts';
import { checkRead, describeExecution, describeView, notFound } from './describe.ts';
import { buildInput } from './input.ts';
import { listRecentExecutions } from './recent.ts';
import { ExecutionError, executionFailure, type StartContext, startAsync, startSync } from './start.ts';
import { traceHeaderFor } from './trace.ts';

export interface StepFunctionsDeps {
  readonly metrics: GatewayMetrics;
  /** The configured routes: the GET route of a target gives its `statusUrl`. */
  readonly routes: readonly RouteConfig[];
  /** The route the gateway adds to read executions of targets without a GET route. */
  readonly executionsRoute?: ExecutionsRoute | undefined;
  readonly publicUrl?: string | undefined;
  readonly redis?: { readonly url: string; readonly keyPrefix?: string } | undefined;
  /** Tests: SDK client settings (e.g. faster retries). */
  readonly sfnClientConfig?: Parameters<typeof createClientSource>[1];
}

export interface StepFunctionsTarget extends Target {
  readonly type: 'stepfunctions';
  readonly stateMachineArn: string;
  /** The caller's (`<issuer>/<sub>`) recent executions, newest first; `[]` for sync targets. */
  recentExecutions(caller: string, limit: number): Promise<RecentExecution[]>;
}

export function createStepFunctionsTarget(
  name: string,
  config: StepFunctionsTargetConfig,
  deps: StepFunctionsDeps,
): StepFunctionsTarget {
  const clients: ClientSource = createClientSource(config, deps.sfnClientConfig);
  const dedupe: DedupeStore | undefined =
    config.mode === 'sync' && deps.redis
      ? createDedupeStore({
          url: deps.redis.url,
          ...(deps.redis.keyPrefix ? { keyPrefix: deps.redis.keyPrefix } : {}),
        })
      : undefined;
  // No route reads this target's executions: then the 202 carries no statusUrl to nowhere.
  const statusBase = statusUrlBase(name, deps.routes, deps.executionsRoute, deps.publicUrl);
  const upstreamDuration = deps.metrics.upstreamDuration.labels({ target: name });
  const count = (result: string) => deps.metrics.executions.inc({ target: name, result });
  const timed = async <T>(call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await call();
    } finally {
      upstreamDuration.observe((performance.now() - started) / 1000);
    }
  };

  async function start(call: ExecutionCall): Promise<Outcome> {
    const { identity, target } = call;
    const key = idempotencyKey(call.rawHeaders);
    const executionNameValue = executionName({ identity, route: call.route.name, key, requestId: call.request.id });
    target.executionName = executionNameValue;
    const body = parseJsonBody(call.headers['content-type'], call.body);
    const input = buildInput(config.input, body, identity, call.request);
    if (config.mode === 'sync' && key !== undefined && !dedupe) {
      throw new GatewayError(
        'SG_ERR_IDEMPOTENCY_UNSUPPORTED',
        'Express executions are not idempotent in AWS and this gateway has no redis to deduplicate them',
      );
    }
    await call.writeIntent();
    try {
      const ctx: StartContext = {
        config,
        client: await clients.forCaller(identity),
        name: executionNameValue,
        input,
        body,
        traceHeader: traceHeaderFor(call.headers),
        dedupe: key === undefined ? undefined : dedupe,
        timed,
      };
      const outcome = config.mode === 'sync' ? await startSync(ctx) : await startAsync(ctx);
      const headers: Record<string, string> = {
        'cache-control': 'no-store',
        ...(outcome.replayed ? { 'idempotent-replayed': 'true' } : {}),
      };
      if (outcome.kind === 'async') {
        target.executionArn = outcome.executionArn;
        count(outcome.replayed ? 'replayed' : 'started');
        const started = { executionArn: outcome.executionArn, startDate: outcome.startDate.toISOString() };
        if (statusBase === undefined) return { status: 202, headers, body: started };
        const statusUrl = statusBase + outcome.executionArn;
        return { status: 202, headers: { ...headers, location: statusUrl }, body: { ...started, statusUrl } };
      }
      const execution = outcome.execution;
      target.executionArn = execution.executionArn;
      count(outcome.replayed ? 'replayed' : execution.status.toLowerCase());
      if (execution.status !== 'SUCCEEDED') {
        target.error = execution.error ?? execution.status;
        throw executionFailure(execution);
      }
      // The output is JSON text already: sent as AWS wrote it.
      return {
        status: 200,
        headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
        body: execution.output ?? 'null',
      };
    } catch (err) {
      if (err instanceof ExecutionError) {
        target.executionArn = err.executionArn;
        target.error = err.awsCode;
        count(err.code === 'SG_ERR_IDEMPOTENCY_CONFLICT' ? 'conflict' : 'error');
      } else if (isGatewayError(err)) {
        if (err.code === 'SG_ERR_IDEMPOTENCY_CONFLICT') count('conflict');
        else if (err.reason === 'upstream_error' && !target.error) {
          target.error = err.code.startsWith('SG_ERR_AWS_') ? awsErrorCode(err.cause) : err.code;
          count('error');
        }
      }
      throw err;
    }
  }

  async function read(call: ExecutionCall): Promise<Outcome> {
    const { identity, route, target } = call;
    const arn = executionIdFromPath(route, call.request.path, call.params);
    const check = checkRead(arn, config.stateMachineArn, identity, call.readAny);
    if (typeof check === 'string') {
      Object.assign(target, arn ? { executionArn: arn } : {}, { error: check });
      throw notFound();
    }
    Object.assign(target, { executionArn: check.executionArn, executionName: check.executionName });
    call.markForwarded();
    try {
      const client = await clients.forCaller(identity);
      const out = await describeExecution(client, check.executionArn, timed);
      return { status: 200, headers: { 'cache-control': 'no-store' }, body: describeView(out) };
    } catch (err) {
      if (isGatewayError(err)) {
        target.error =
          err.code === 'SG_ERR_EXECUTION_NOT_FOUND' ? 'ExecutionDoesNotExist' : awsErrorCode(err.cause);
      }
      throw err;
    }
  }

  return {
    name,
    type: 'stepfunctions',
    stateMachineArn: config.stateMachineArn,
    async forward(forwarded) {
      const call = executionCall(forwarded);
      // Also when the executions reader hands a read on: the record names this target.
      Object.assign(call.target, { name, type: 'stepfunctions' });
      switch (call.request.method) {
        case 'POST':
          return start(call);
        case 'GET':
        case 'HEAD':
          return read(call);
        default:
          // The config refuses other methods on Step Functions routes.
          throw new GatewayError('SG_ERR_NO_ROUTE');
      }
    },
    async recentExecutions(caller, limit) {
      // Express executions are not listed by ListExecutions' default; sync targets have none to show.
      if (config.mode === 'sync') return [];
      const target = { name, stateMachineArn: config.stateMachineArn, statusBase };
      return listRecentExecutions(clients.own, target, caller, limit);
    },
    async close() {
      clients.close();
      await dedupe?.close();
    },
  };
}
