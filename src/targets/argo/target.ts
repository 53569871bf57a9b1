/**
 * The Argo target behind today's `Target.handle(request, reply)`: the request becomes an
 * `ExecutionCall`, `workflows.ts` does the work, its `Outcome` becomes the reply.
 */
import type { ArgoTargetConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import type { RecentExecution } from '../execution/call.ts';
import { type ExecutionAuditDeps, executionCall, sendOutcome } from '../execution/fastify-call.ts';
import type { Target } from '../http.ts';
import { type ArgoWorkflowsDeps, createArgoWorkflows } from './workflows.ts';

export interface ArgoTargetDeps extends ArgoWorkflowsDeps {
  readonly audit: ExecutionAuditDeps;
}

export interface ArgoTarget extends Target {
  readonly type: 'argo';
  recentExecutions(caller: string, limit: number): Promise<RecentExecution[]>;
}

export function createArgoTarget(name: string, config: ArgoTargetConfig, deps: ArgoTargetDeps): ArgoTarget {
  const workflows = createArgoWorkflows(name, config, deps);
  return {
    name,
    type: 'argo',
    async handle(request, reply) {
      const call = executionCall(request, deps.audit, { name, type: 'argo' });
      switch (request.method) {
        case 'POST':
          return sendOutcome(reply, await workflows.start(call));
        case 'GET':
        case 'HEAD':
          return sendOutcome(reply, await workflows.read(call));
        default:
          // The config refuses other methods on Argo routes.
          throw new GatewayError('SG_ERR_NO_ROUTE');
      }
    },
    recentExecutions: (caller, limit) => workflows.recentExecutions(caller, limit),
    close: () => workflows.close(),
  };
}
