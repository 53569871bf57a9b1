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
import type { RouteConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { compilePolicy } from '../../policy/evaluate.ts';
import type { Decision, Subject } from '../../policy/types.ts';
import { awsErrorCode, mapAwsError } from './aws-errors.ts';
import { parseExactJson } from './exact-json.ts';
import { parseExecutionArn, startedBy } from './naming.ts';

const readAnyPolicies = new WeakMap<RouteConfig, (subject: Subject) => Decision>();

/** Whether the route's `readAnyExecution` conditions hold for `identity`. */
export function mayReadAny(route: RouteConfig, identity: Identity): boolean {
  if (!route.readAnyExecution) return false;
  let policy = readAnyPolicies.get(route);
  if (!policy) {
    policy = compilePolicy({ ...route, public: false, allow: route.readAnyExecution });
    readAnyPolicies.set(route, policy);
  }
  return policy(identity).allow;
}

/**
 * The ARN in the path: the `:arn` parameter, or the one segment after the route's `/*` prefix,
 * percent-decoded (`%3A` for `:` is fine too).
 */
export function executionArnFromPath(
  route: RouteConfig,
  path: string,
  params: Record<string, string>,
): string | undefined {
  let raw: string | undefined = params['arn'];
  if (raw === undefined && route.path.endsWith('/*')) {
    const base = route.path.slice(0, -1);
    raw = path.startsWith(base) ? path.slice(base.length) : undefined;
  }
  if (!raw || raw.includes('/')) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export type ReadRefusal = 'malformed' | 'other_state_machine' | 'not_owner';

export interface ReadCheck {
  readonly executionArn: string;
  readonly executionName: string;
}

/** Decides, without asking AWS, whether `identity` may read `arn` of `stateMachineArn`. */
export function checkRead(
  arn: string | undefined,
  stateMachineArn: string,
  route: RouteConfig,
  identity: Identity,
): ReadCheck | ReadRefusal {
  const parsed = arn === undefined ? undefined : parseExecutionArn(arn);
  if (!parsed) return 'malformed';
  if (parsed.stateMachineArn !== stateMachineArn) return 'other_state_machine';
  if (!startedBy(parsed.name, identity) && !mayReadAny(route, identity)) return 'not_owner';
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
