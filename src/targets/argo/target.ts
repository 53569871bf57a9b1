/** The Argo target: `workflows.ts` starts and reads workflows for a call (../target.ts). */
import type { ArgoTargetConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import type { RecentExecution } from '../execution/call.ts';
import { executionCall } from '../execution/call.ts';
import type { Target } from '../target.ts';
import { type ArgoWorkflowsDeps, createArgoWorkflows } from './workflows.ts';

export type ArgoTargetDeps = ArgoWorkflowsDeps;

export interface ArgoTarget extends Target {
  readonly type: 'argo';
  recentExecutions(caller: string, limit: number): Promise<RecentExecution[]>;
}

export function createArgoTarget(name: string, config: ArgoTargetConfig, deps: ArgoTargetDeps): ArgoTarget {
  const workflows = createArgoWorkflows(name, config, deps);
  return {
    name,
    type: 'argo',
    async forward(forwarded) {
      const call = executionCall(forwarded);
      switch (call.request.method) {
        case 'POST':
          return workflows.start(call);
        case 'GET':
        case 'HEAD':
          return workflows.read(call);
        default:
          // The config refuses other methods on Argo routes.
          throw new GatewayError('SG_ERR_NO_ROUTE');
      }
    },
    recentExecutions: (caller, limit) => workflows.recentExecutions(caller, limit),
    close: () => workflows.close(),
  };
}
