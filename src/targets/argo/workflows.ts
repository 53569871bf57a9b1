/**
 * Argo Workflows targets (DESIGN.md "Argo Workflows targets"), without Fastify: `start` submits
 * the target's template as the verified caller, `read` answers that caller (or a `readAnyExecution`
 * caller) with the workflow's state, `recentExecutions` lists it on `/.stepgate/`.
 *
 * Idempotency: the workflow's name comes from the caller, the route and the `Idempotency-Key`
 * (or the request id), so a retry asks argo-server for a name it already has. Its AlreadyExists
 * (409) is resolved by reading that workflow: it is answered again only when its caller label
 * and template are this caller's and this target's and its envelope carries the same body — by
 * the one rule of `sameBody` (json-body.ts), as for Step Functions: the same JSON, numbers as
 * written; otherwise 409. The intent record is durable before the submission is sent.
 */
import { ARGO_CALLER_PARAMETER, type ArgoTargetConfig, type RouteConfig } from '../../config/schema.ts';
import { readClientTls } from '../../config/tls-files.ts';
import { GatewayError } from '../../errors.ts';
import type { GatewayMetrics } from '../../metrics/metrics.ts';
import { statusUrlBase } from '../../policy/execution-routes.ts';
import type { ExecutionCall, Outcome, RecentExecution } from '../execution/call.ts';
import { parseJsonBody, sameBody } from '../execution/json-body.ts';
import { executionName, idempotencyKey } from '../execution/naming.ts';
import { executionIdFromPath } from '../execution/read-access.ts';
import { type ArgoClient, ArgoApiError, createArgoClient } from './client.ts';
import { type ArgoOperation, argoErrorCode, mapArgoError } from './errors.ts';
import { checkName, checkWorkflow, notFound, workflowView } from './read.ts';
import { listRecentWorkflows } from './recent.ts';
import { buildSubmitRequest, workflowParameter } from './submit-request.ts';
import { createTokenFile } from './token-file.ts';
import type { Workflow } from './types.ts';

export interface ArgoWorkflowsDeps {
  readonly metrics: GatewayMetrics;
  /** The configured routes: the target's GET route gives its `statusUrl` (none without one). */
  readonly routes: readonly RouteConfig[];
  readonly publicUrl?: string | undefined;
}

export interface ArgoWorkflows {
  /** POST: 202 with the workflow's name and where to read it. */
  start(call: ExecutionCall): Promise<Outcome>;
  /** GET/HEAD: 200 with the workflow's phase, times, message and outputs. */
  read(call: ExecutionCall): Promise<Outcome>;
  /** The caller's (`<issuer>/<sub>`) recent workflows of this target, newest first. */
  recentExecutions(caller: string, limit: number): Promise<RecentExecution[]>;
  close(): Promise<void>;
}

function conflict(detail: string): GatewayError {
  return new GatewayError('SG_ERR_IDEMPOTENCY_CONFLICT', detail);
}

export function createArgoWorkflows(
  name: string,
  config: ArgoTargetConfig,
  deps: ArgoWorkflowsDeps,
): ArgoWorkflows {
  const client: ArgoClient = createArgoClient({
    server: config.server,
    timeoutMs: config.timeoutMs,
    // Read once, when the target is built: a file gone bad is a config problem (ConfigError).
    ca: readClientTls(`targets.${name}`, config).ca,
  });
  const token = createTokenFile(config.tokenFile);
  // Without a GET route nothing reads this target's workflows: no statusUrl to nowhere.
  const statusBase = statusUrlBase(name, deps.routes, undefined, deps.publicUrl);
  const upstreamDuration = deps.metrics.upstreamDuration.labels({ target: name });
  const count = (result: string) => deps.metrics.executions.inc({ target: name, result });

  /**
   * One argo-server call, timed; its failure named for the audit and mapped into the catalog —
   * but a submission's AlreadyExists (409), which `start` resolves, is passed on as it is.
   */
  async function ask<T>(call: ExecutionCall, operation: ArgoOperation, send: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await send();
    } catch (err) {
      if (operation === 'submit' && err instanceof ArgoApiError && err.status === 409) throw err;
      call.target.error ??= argoErrorCode(err);
      throw mapArgoError(err, operation);
    } finally {
      upstreamDuration.observe((performance.now() - started) / 1000);
    }
  }

  function accepted(workflow: Workflow, replayed: boolean): Outcome {
    const statusUrl = statusBase === undefined ? undefined : statusBase + workflow.metadata.name;
    return {
      status: 202,
      headers: {
        'cache-control': 'no-store',
        ...(statusUrl ? { location: statusUrl } : {}),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
      },
      body: {
        name: workflow.metadata.name,
        namespace: workflow.metadata.namespace,
        ...(workflow.metadata.uid ? { uid: workflow.metadata.uid } : {}),
        ...(workflow.metadata.creationTimestamp ? { startDate: workflow.metadata.creationTimestamp } : {}),
        ...(statusUrl ? { statusUrl } : {}),
      },
    };
  }

  /** argo-server already has a workflow by this name: this caller's same request, or a conflict. */
  async function existing(call: ExecutionCall, bearer: string, workflowName: string, body: unknown) {
    let workflow: Workflow;
    try {
      workflow = await ask(call, 'get', () => client.get(bearer, config.namespace, workflowName));
    } catch (err) {
      // Gone between the two calls (deleted, or garbage-collected): the key may be tried again.
      if (err instanceof GatewayError && err.code === 'SG_ERR_EXECUTION_NOT_FOUND') {
        throw new GatewayError('SG_ERR_IDEMPOTENCY_IN_PROGRESS', 'the workflow with this key is changing; retry', {
          headers: { 'retry-after': '1' },
        });
      }
      throw err;
    }
    if (workflow.metadata.uid) call.target.uid = workflow.metadata.uid;
    if (checkWorkflow(workflow, config, call.identity, false) !== undefined) {
      call.target.error = 'AlreadyExists';
      throw conflict('a workflow with this name exists and was not started by you from this route');
    }
    const envelope = workflowParameter(workflow.spec?.arguments?.parameters, ARGO_CALLER_PARAMETER);
    if (!sameBody('envelope', envelope, body)) {
      call.target.error = 'AlreadyExists';
      throw conflict('this Idempotency-Key was already used with a different request body');
    }
    return workflow;
  }

  return {
    async start(call) {
      const { identity, target } = call;
      const key = idempotencyKey(call.rawHeaders);
      const workflowName = executionName({ identity, route: call.route.name, key, requestId: call.request.id });
      Object.assign(target, { executionName: workflowName, namespace: config.namespace });
      const body = parseJsonBody(call.headers['content-type'], call.body);
      const submit = buildSubmitRequest(config, { name: workflowName, identity, request: call.request, body });
      const bearer = await token.read();
      await call.writeIntent();
      try {
        let workflow: Workflow;
        let replayed = false;
        try {
          workflow = await ask(call, 'submit', () => client.submit(bearer, submit));
        } catch (err) {
          if (!(err instanceof ArgoApiError)) throw err;
          // AlreadyExists: the only 409 a create answers.
          workflow = await existing(call, bearer, workflowName, body);
          replayed = true;
        }
        if (workflow.metadata.uid) target.uid = workflow.metadata.uid;
        count(replayed ? 'replayed' : 'started');
        return accepted(workflow, replayed);
      } catch (err) {
        count(err instanceof GatewayError && err.code === 'SG_ERR_IDEMPOTENCY_CONFLICT' ? 'conflict' : 'error');
        throw err;
      }
    },

    async read(call) {
      const { identity, target } = call;
      const workflowName = executionIdFromPath(call.route, call.request.path, call.params);
      Object.assign(target, { namespace: config.namespace }, workflowName ? { executionName: workflowName } : {});
      const { readAny } = call;
      const refused = checkName(workflowName, identity, readAny);
      if (refused) {
        target.error = refused;
        throw notFound();
      }
      const bearer = await token.read();
      call.markForwarded();
      const workflow = await ask(call, 'get', () => client.get(bearer, config.namespace, workflowName!));
      if (workflow.metadata.uid) target.uid = workflow.metadata.uid;
      const refusal = checkWorkflow(workflow, config, identity, readAny);
      if (refusal) {
        target.error = refusal;
        throw notFound();
      }
      return { status: 200, headers: { 'cache-control': 'no-store' }, body: workflowView(workflow) };
    },

    async recentExecutions(caller, limit) {
      return listRecentWorkflows(client, await token.read(), { name, config, statusBase }, caller, limit);
    },

    close: () => client.close(),
  };
}
