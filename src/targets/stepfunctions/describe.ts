/**
 * GET/HEAD on a Step Functions route: DescribeExecution for the execution ARN that ends the
 * path (`GET /executions/{arn}`). Answered for the caller who started it (its name carries the
 * caller's tag, see `naming.ts`) or for a caller the route's `readAnyExecution` conditions allow;
 * everyone else gets the same 404 as for an execution that does not exist, before AWS is asked.
 */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { awsErrorCode, mapAwsError } from './aws-errors.ts';
import { parseExactJson } from '../execution/exact-json.ts';
import { startedBy } from '../execution/naming.ts';
import { parseExecutionArn } from './naming.ts';

export type ReadRefusal = 'malformed' | 'other_state_machine' | 'not_owner';

export interface ReadCheck {
  readonly executionArn: string;
  readonly executionName: string;
}

/** Decides, without asking AWS, whether `identity` may read `arn` of `stateMachineArn`. */
export function checkRead(
  arn: string | undefined,
  stateMachineArn: string,
  identity: Identity,
  readAny: boolean,
): ReadCheck | ReadRefusal {
  const parsed = arn === undefined ? undefined : parseExecutionArn(arn);
  if (!parsed) return 'malformed';
  if (parsed.stateMachineArn !== stateMachineArn) return 'other_state_machine';
  if (!startedBy(parsed.name, identity) && !readAny) return 'not_owner';
  return { executionArn: arn!, executionName: parsed.name };
}

export function notFound(): GatewayError {
  return new GatewayError('SG_ERR_EXECUTION_NOT_FOUND', 'no execution with this ARN is visible to you');
}

/** The output as JSON with its numbers as written; as the string it is when it cannot be kept so. */
function parseOutput(output: string | undefined): unknown {
  if (output === undefined) return undefined;
  try {
    return parseExactJson(output);
  } catch {
    return output;
  }
}

/** What a caller sees of an execution: its state and result, not its input (the envelope). */
export function describeView(out: DescribeExecutionCommandOutput): Record<string, unknown> {
  return {
    executionArn: out.executionArn,
    name: out.name,
    status: out.status,
    startDate: out.startDate?.toISOString(),
    ...(out.stopDate ? { stopDate: out.stopDate.toISOString() } : {}),
    ...(out.output === undefined ? {} : { output: parseOutput(out.output) }),
    ...(out.error === undefined ? {} : { error: out.error }),
    ...(out.cause === undefined ? {} : { cause: out.cause }),
  };
}

export async function describeExecution(
  client: SFNClient,
  executionArn: string,
  timed: <T>(call: () => Promise<T>) => Promise<T>,
): Promise<DescribeExecutionCommandOutput> {
  try {
    return await timed(() => client.send(new DescribeExecutionCommand({ executionArn })));
  } catch (err) {
    if (awsErrorCode(err) === 'ExecutionDoesNotExist') throw notFound();
    throw mapAwsError(err);
  }
}
