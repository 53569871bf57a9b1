/**
 * The target of the route the gateway adds at `/executions/{arn}` (policy/execution-routes.ts):
 * hands the read to the Step Functions target whose state machine the ARN names, which answers
 * only the caller who started the execution. Any other ARN gets the 404 of a missing execution.
 */
import { EXECUTIONS_ROUTE } from '../../policy/execution-routes.ts';
import { executionIdFromPath } from '../execution/read-access.ts';
import type { Target } from '../target.ts';
import { notFound } from './describe.ts';
import { parseExecutionArn } from './naming.ts';
import type { StepFunctionsTarget } from './target.ts';

export function createExecutionsReader(targets: readonly StepFunctionsTarget[]): Target {
  return {
    name: EXECUTIONS_ROUTE,
    type: 'stepfunctions',
    async forward(call) {
      const arn = executionIdFromPath(call.route, call.request.path, call.params);
      const parsed = arn === undefined ? undefined : parseExecutionArn(arn);
      const target = parsed && targets.find((t) => t.stateMachineArn === parsed.stateMachineArn);
      if (target) return target.forward(call);
      Object.assign(call.target, {
        name: EXECUTIONS_ROUTE,
        type: 'stepfunctions',
        ...(arn ? { executionArn: arn } : {}),
        error: parsed ? 'other_state_machine' : 'malformed',
      });
      throw notFound();
    },
  };
}
