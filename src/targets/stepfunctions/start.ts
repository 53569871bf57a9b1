/**
 * POST: start an execution. Async targets call StartExecution (202 with the ARN and a status
 * URL); sync targets call StartSyncExecution (200 with the output, or a problem carrying the
 * execution's error and cause). A repeated `Idempotency-Key` with the same body answers with the
 * same execution; with another body, 409.
 */
import { createHash } from 'node:crypto';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  type StartSyncExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import type { StepFunctionsTargetConfig } from '../../config/schema.ts';
import { GatewayError } from '../../errors.ts';
import { awsErrorCode, mapAwsError } from './aws-errors.ts';
import type { DedupeStore, StoredExecution } from './dedupe.ts';
import { bodyFingerprint, sameBody } from '../execution/json-body.ts';

export interface StartContext {
  readonly config: StepFunctionsTargetConfig;
  readonly client: SFNClient;
  readonly name: string;
  readonly input: string;
  readonly body: unknown;
  readonly traceHeader: string | undefined;
  /** Set for a sync target with an Idempotency-Key and Redis. */
  readonly dedupe: DedupeStore | undefined;
  /** Times each AWS call (for `stepgate_upstream_duration_seconds`). */
  readonly timed: <T>(call: () => Promise<T>) => Promise<T>;
}

export interface AsyncOutcome {
  readonly kind: 'async';
  readonly executionArn: string;
  readonly startDate: Date;
  readonly replayed: boolean;
}

export interface SyncOutcome {
  readonly kind: 'sync';
  readonly execution: StoredExecution;
  readonly replayed: boolean;
}

export type StartOutcome = AsyncOutcome | SyncOutcome;

/** An error that happened after the execution was known: the audit record still names it. */
export class ExecutionError extends GatewayError {
  readonly executionArn: string;
  readonly awsCode: string;
  constructor(cause: GatewayError, executionArn: string, awsCode: string) {
    super(cause.code, cause.detail, {
      cause,
      headers: { ...cause.headers },
      extensions: { ...cause.extensions },
    });
    this.executionArn = executionArn;
    this.awsCode = awsCode;
  }
}

/** The problem for a sync execution that did not succeed: never a 200. */
export function executionFailure(execution: StoredExecution): GatewayError {
  const code = execution.status === 'TIMED_OUT' ? 'SG_ERR_EXECUTION_TIMED_OUT' : 'SG_ERR_EXECUTION_FAILED';
  return new GatewayError(code, `the execution ended ${execution.status}`, {
    extensions: {
      executionArn: execution.executionArn,
      executionStatus: execution.status,
      error: execution.error ?? null,
      cause: execution.cause === undefined ? null : execution.cause.slice(0, 32_768),
    },
  });
}

export async function startAsync(ctx: StartContext): Promise<StartOutcome> {
  const { config, client, name, input } = ctx;
  try {
    const out = await ctx.timed(() =>
      client.send(
        new StartExecutionCommand({
          stateMachineArn: config.stateMachineArn,
          name,
          input,
          ...(ctx.traceHeader ? { traceHeader: ctx.traceHeader } : {}),
        }),
      ),
    );
    return { kind: 'async', executionArn: out.executionArn!, startDate: out.startDate!, replayed: false };
  } catch (err) {
    if (awsErrorCode(err) !== 'ExecutionAlreadyExists') throw mapAwsError(err);
  }
  // The name is taken: by this same request earlier (a retry, or the SDK retrying after a 5xx
  // that came after the start), or by another request with the same key. Its input decides.
  const executionArn = `${config.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  let existing: DescribeExecutionCommandOutput;
  try {
    existing = await ctx.timed(() => client.send(new DescribeExecutionCommand({ executionArn })));
  } catch (err) {
    throw new ExecutionError(mapAwsError(err), executionArn, awsErrorCode(err));
  }
  if (!sameBody(config.input, existing.input, ctx.body)) {
    throw new ExecutionError(
      new GatewayError(
        'SG_ERR_IDEMPOTENCY_CONFLICT',
        'this Idempotency-Key was already used with a different request body',
      ),
      executionArn,
      'ExecutionAlreadyExists',
    );
  }
  return { kind: 'async', executionArn, startDate: existing.startDate!, replayed: true };
}

/** Stored in Redis for a key: numbers count as written, as they do for `sameBody`. */
function bodyHash(body: unknown): string {
  return createHash('sha256').update(bodyFingerprint(body)).digest('base64url');
}

function stored(out: StartSyncExecutionCommandOutput): StoredExecution {
  return {
    executionArn: out.executionArn ?? '',
    status: out.status ?? 'FAILED',
    ...(out.output === undefined ? {} : { output: out.output }),
    ...(out.error === undefined ? {} : { error: out.error }),
    ...(out.cause === undefined ? {} : { cause: out.cause }),
  };
}

/** AWS answered before running anything: a retry of the same key may run it. */
function didNotRun(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500;
}

export async function startSync(ctx: StartContext): Promise<StartOutcome> {
  const { config, client, name, input, dedupe } = ctx;
  const hash = bodyHash(ctx.body);
  let token: string | undefined;
  if (dedupe) {
    // Pending claims outlive the slowest call (every attempt timing out) and then lapse.
    const claim = await dedupe.begin(config.stateMachineArn, name, hash, config.timeoutMs * 4 + 5000);
    if (claim.state !== 'claimed' && claim.bodyHash !== hash) {
      throw new GatewayError(
        'SG_ERR_IDEMPOTENCY_CONFLICT',
        'this Idempotency-Key was already used with a different request body',
      );
    }
    if (claim.state === 'pending') {
      throw new GatewayError(
        'SG_ERR_IDEMPOTENCY_IN_PROGRESS',
        'a request with this Idempotency-Key is still running',
        {
          headers: { 'retry-after': '1' },
        },
      );
    }
    if (claim.state === 'done') return { kind: 'sync', execution: claim.execution, replayed: true };
    token = claim.token;
  }
  let out: StartSyncExecutionCommandOutput;
  try {
    out = await ctx.timed(() =>
      client.send(
        new StartSyncExecutionCommand({
          stateMachineArn: config.stateMachineArn,
          name,
          input,
          ...(ctx.traceHeader ? { traceHeader: ctx.traceHeader } : {}),
        }),
      ),
    );
  } catch (err) {
    // After an ambiguous failure (time-out, 5xx) the claim is left to lapse: the execution may
    // have run, and running it again now could repeat its effects.
    if (dedupe && token && didNotRun(err))
      await dedupe.abandon(config.stateMachineArn, name, token).catch(() => {});
    throw mapAwsError(err);
  }
  const execution = stored(out);
  // The execution ran: its result is answered even if it cannot be stored (the claim then lapses).
  if (dedupe && token)
    await dedupe.complete(config.stateMachineArn, name, token, hash, execution).catch(() => {});
  return { kind: 'sync', execution, replayed: false };
}
