/**
 * Step Functions targets (DESIGN.md "Request path → Step Functions targets"). POST starts an
 * execution named for the caller and their `Idempotency-Key`; GET/HEAD reads one. The request
 * never chooses the state machine: it is the target's. Before any AWS call the intent is written
 * to the audit log durably; the outcome record (with executionArn, executionName and the AWS
 * error code) follows from the audit plugin when the response is sent.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteConfig, StepFunctionsTargetConfig } from '../../config/schema.ts';
import { GatewayError, isGatewayError } from '../../errors.ts';
import type { GatewayMetrics } from '../../metrics/metrics.ts';
import { type ExecutionsRoute, statusUrlBase } from '../../policy/execution-routes.ts';
import type { AuditTarget } from '../../plugins/request-state.ts';
import type { Target } from '../http.ts';
import { awsErrorCode } from './aws-errors.ts';
import { type ClientSource, createClientSource } from './clients.ts';
import { createDedupeStore, type DedupeStore } from './dedupe.ts';
import type { RecentExecution } from '../execution/call.ts';
import { type ExecutionAuditDeps, writeIntentRecord } from '../execution/fastify-call.ts';
import { parseJsonBody } from '../execution/json-body.ts';
import { executionName, idempotencyKey } from '../execution/naming.ts';
import { executionIdFromPath } from '../execution/read-access.ts';
import { checkRead, describeExecution, describeView, notFound } from './describe.ts';
import { buildInput } from './input.ts';
import { listRecentExecutions } from './recent.ts';
import { ExecutionError, executionFailure, type StartContext, startAsync, startSync } from './start.ts';
import { traceHeaderFor } from './trace.ts';

export interface StepFunctionsDeps {
  readonly metrics: GatewayMetrics;
  readonly audit: ExecutionAuditDeps;
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

  async function start(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const state = request.stepgate;
    const identity = state.identity;
    const route = state.match?.route;
    // The config refuses public Step Functions routes; no identity here is a bug.
    if (!identity || !route) throw new GatewayError('SG_ERR_INTERNAL');
    const key = idempotencyKey(request.raw.rawHeaders);
    const executionNameValue = executionName({ identity, route: route.name, key, requestId: request.id });
    const target: AuditTarget = {
      name,
      type: 'stepfunctions',
      executionName: executionNameValue,
    };
    state.target = target;
    const body = parseJsonBody(request.headers['content-type'], request.body);
    const input = buildInput(config.input, body, identity, {
      id: request.id,
      method: request.method,
      path: state.path!,
      receivedAt: state.receivedAt,
    });
    if (config.mode === 'sync' && key !== undefined && !dedupe) {
      throw new GatewayError(
        'SG_ERR_IDEMPOTENCY_UNSUPPORTED',
        'Express executions are not idempotent in AWS and this gateway has no redis to deduplicate them',
      );
    }
    await writeIntentRecord(deps.audit, request, { ...target });
    try {
      const ctx: StartContext = {
        config,
        client: await clients.forCaller(identity),
        name: executionNameValue,
        input,
        body,
        traceHeader: traceHeaderFor(request.headers),
        dedupe: key === undefined ? undefined : dedupe,
        timed,
      };
      const outcome = config.mode === 'sync' ? await startSync(ctx) : await startAsync(ctx);
      if (outcome.replayed) reply.header('idempotent-replayed', 'true');
      if (outcome.kind === 'async') {
        target.executionArn = outcome.executionArn;
        count(outcome.replayed ? 'replayed' : 'started');
        const started = { executionArn: outcome.executionArn, startDate: outcome.startDate.toISOString() };
        reply.code(202).header('cache-control', 'no-store');
        if (statusBase === undefined) return reply.send(started);
        const statusUrl = statusBase + outcome.executionArn;
        return reply.header('location', statusUrl).send({ ...started, statusUrl });
      }
      const execution = outcome.execution;
      target.executionArn = execution.executionArn;
      count(outcome.replayed ? 'replayed' : execution.status.toLowerCase());
      if (execution.status !== 'SUCCEEDED') {
        target.error = execution.error ?? execution.status;
        throw executionFailure(execution);
      }
      return reply
        .code(200)
        .header('cache-control', 'no-store')
        .type('application/json')
        .send(execution.output ?? 'null');
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

  async function read(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const state = request.stepgate;
    const identity = state.identity;
    const match = state.match;
    if (!identity || !match) throw new GatewayError('SG_ERR_INTERNAL');
    const arn = executionIdFromPath(match.route, state.path!, match.params);
    const check = checkRead(arn, config.stateMachineArn, match.route, identity);
    if (typeof check === 'string') {
      state.target = { name, type: 'stepfunctions', ...(arn ? { executionArn: arn } : {}), error: check };
      throw notFound();
    }
    const target: AuditTarget = {
      name,
      type: 'stepfunctions',
      executionArn: check.executionArn,
      executionName: check.executionName,
    };
    state.target = target;
    state.forwarded = true;
    try {
      const client = await clients.forCaller(identity);
      const out = await describeExecution(client, check.executionArn, timed);
      return reply.code(200).header('cache-control', 'no-store').send(describeView(out));
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
    async handle(request, reply) {
      switch (request.method) {
        case 'POST':
          return start(request, reply);
        case 'GET':
        case 'HEAD':
          return read(request, reply);
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
