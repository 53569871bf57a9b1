/**
 * An execution target's view of a call (../target.ts): the same `ForwardCall`, with the caller
 * always known — the config refuses public execution routes — and what every execution target
 * lists for `/.stepgate/`.
 */
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import type { ForwardCall } from '../target.ts';

export type { Outcome } from '../target.ts';

export interface ExecutionCall extends ForwardCall {
  readonly identity: Identity;
}

/** The call with its caller; a call without one reaching an execution target is a bug (500). */
export function executionCall(call: ForwardCall): ExecutionCall {
  if (!call.identity) throw new GatewayError('SG_ERR_INTERNAL');
  return call as ExecutionCall;
}

/** One execution (or workflow) a caller started, as `/.stepgate/` lists it. */
export interface RecentExecution {
  /** Step Functions only. */
  readonly executionArn?: string;
  readonly name: string;
  /** The target it belongs to. */
  readonly workflow: string;
  readonly status: string;
  readonly startDate: Date;
  readonly stopDate?: Date | undefined;
  /** Where the caller reads it; absent when no route serves it. */
  readonly statusUrl?: string | undefined;
}
