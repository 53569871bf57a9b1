/**
 * A small interpreter for the Amazon States Language (https://states-language.net/spec.html):
 * Pass, Task (on local functions registered by name), Choice, Wait, Succeed and Fail, with
 * InputPath / Parameters / ResultSelector / ResultPath / OutputPath, Retry and Catch on Task, and
 * the state machine's TimeoutSeconds. Enough to run real workflows in tests and the demo; Map and
 * Parallel are refused when a definition is loaded rather than misrun.
 */
import { applyTemplate, PathError, readPath, requirePath, writePath } from './json-path.ts';

/** A Task's local function: gets the state's effective input, returns its result. */
export type TaskFunction = (input: unknown, context: TaskContext) => unknown;

export interface TaskContext {
  readonly executionArn: string;
  readonly executionName: string;
  readonly signal: AbortSignal;
}

/** An error a Task function throws to fail with a given `Error` name (as a Lambda errorType). */
export class TaskError extends Error {
  readonly error: string;
  constructor(error: string, cause: string) {
    super(cause);
    this.name = 'TaskError';
    this.error = error;
  }
}

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
}

interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}

export interface AslState {
  Type: 'Pass' | 'Task' | 'Choice' | 'Wait' | 'Succeed' | 'Fail';
  Comment?: string;
  Next?: string;
  End?: boolean;
  InputPath?: string | null;
  OutputPath?: string | null;
  ResultPath?: string | null;
  Parameters?: unknown;
  ResultSelector?: unknown;
  Result?: unknown;
  Resource?: string;
  TimeoutSeconds?: number;
  Retry?: Retrier[];
  Catch?: Catcher[];
  Choices?: ChoiceRule[];
  Default?: string;
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
  Error?: string;
  Cause?: string;
}

export interface ChoiceRule {
  Variable?: string;
  Next?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
  Not?: ChoiceRule;
  [comparison: string]: unknown;
}

export interface AslDefinition {
  Comment?: string;
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
}

export type ExecutionResult =
  | { readonly status: 'SUCCEEDED'; readonly output: string }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string }
  | { readonly status: 'TIMED_OUT'; readonly error: 'States.Timeout'; readonly cause: string }
  | { readonly status: 'ABORTED' };

const SUPPORTED = new Set(['Pass', 'Task', 'Choice', 'Wait', 'Succeed', 'Fail']);

/** Checks a definition the way CreateStateMachine does; returns what is wrong, or `[]`. */
export function validateDefinition(definition: AslDefinition, functions: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  if (!definition || typeof definition !== 'object' || typeof definition.States !== 'object') {
    return ['definition must be an object with StartAt and States'];
  }
  const names = new Set(Object.keys(definition.States));
  if (!names.has(definition.StartAt)) problems.push(`StartAt ${definition.StartAt} is not a state`);
  for (const [name, state] of Object.entries(definition.States)) {
    if (!SUPPORTED.has(state.Type)) problems.push(`${name}: type ${state.Type} is not supported locally`);
    const terminal = state.Type === 'Succeed' || state.Type === 'Fail' || state.Type === 'Choice';
    if (!terminal && !state.End && !state.Next) problems.push(`${name}: needs Next or End`);
    for (const next of [state.Next, state.Default, ...(state.Catch ?? []).map((c) => c.Next)]) {
      if (next !== undefined && !names.has(next)) problems.push(`${name}: ${next} is not a state`);
    }
    const stack = [...(state.Choices ?? [])];
    for (let rule = stack.pop(); rule; rule = stack.pop()) {
      if (rule.Next !== undefined && !names.has(rule.Next))
        problems.push(`${name}: ${rule.Next} is not a state`);
      stack.push(...(rule.And ?? []), ...(rule.Or ?? []), ...(rule.Not ? [rule.Not] : []));
    }
    if (state.Type === 'Task' && (!state.Resource || !functions.has(functionName(state.Resource)))) {
      problems.push(`${name}: no local function for Resource ${state.Resource}`);
    }
  }
  return problems;
}

/** `arn:aws:lambda:…:function:NAME[:alias]` → NAME; anything else is its own name. */
export function functionName(resource: string): string {
  const m = /^arn:aws[a-z-]*:lambda:[^:]*:\d*:function:([^:]+)/.exec(resource);
  return m ? m[1]! : resource;
}

class StatesError extends Error {
  readonly error: string;
  constructor(error: string, cause: string) {
    super(cause);
    this.error = error;
  }
}

function errorOf(err: unknown): StatesError {
  if (err instanceof StatesError) return err;
  if (err instanceof TaskError) return new StatesError(err.error, err.message);
  if (err instanceof PathError) return new StatesError('States.Runtime', err.message);
  if (err instanceof Error)
    return new StatesError(err.name === 'Error' ? 'States.TaskFailed' : err.name, err.message);
  return new StatesError('States.TaskFailed', String(err));
}

function matches(names: readonly string[], error: string): boolean {
  return names.includes(error) || (names.includes('States.ALL') && error !== 'States.Runtime');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function compare(rule: ChoiceRule, input: unknown, context: unknown): boolean {
  if (rule.And) return rule.And.every((r) => compare(r, input, context));
  if (rule.Or) return rule.Or.some((r) => compare(r, input, context));
  if (rule.Not) return !compare(rule.Not, input, context);
  if (!rule.Variable) throw new StatesError('States.Runtime', 'a choice rule needs a Variable');
  const value = readPath(rule.Variable, input, context);
  for (const [key, raw] of Object.entries(rule)) {
    if (key === 'Variable' || key === 'Next') continue;
    const operand = key.endsWith('Path') && key !== 'IsPresent' ? readPath(String(raw), input, context) : raw;
    const op = key.endsWith('Path') ? key.slice(0, -4) : key;
    switch (op) {
      case 'IsPresent':
        return (value !== undefined) === operand;
      case 'IsNull':
        return (value === null) === operand;
      case 'IsString':
        return (typeof value === 'string') === operand;
      case 'IsNumeric':
        return (typeof value === 'number') === operand;
      case 'IsBoolean':
        return (typeof value === 'boolean') === operand;
      case 'StringEquals':
        return typeof value === 'string' && value === operand;
      case 'StringMatches': {
        if (typeof value !== 'string' || typeof operand !== 'string') return false;
        const pattern = operand.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
        return new RegExp(`^${pattern.join('.*')}$`, 's').test(value);
      }
      case 'BooleanEquals':
        return typeof value === 'boolean' && value === operand;
      case 'NumericEquals':
        return typeof value === 'number' && value === operand;
      case 'NumericLessThan':
        return typeof value === 'number' && typeof operand === 'number' && value < operand;
      case 'NumericLessThanEquals':
        return typeof value === 'number' && typeof operand === 'number' && value <= operand;
      case 'NumericGreaterThan':
        return typeof value === 'number' && typeof operand === 'number' && value > operand;
      case 'NumericGreaterThanEquals':
        return typeof value === 'number' && typeof operand === 'number' && value >= operand;
      default:
        throw new StatesError('States.Runtime', `choice comparison ${key} is not supported locally`);
    }
  }
  throw new StatesError('States.Runtime', 'a choice rule needs a comparison');
}

export interface RunOptions {
  readonly functions: ReadonlyMap<string, TaskFunction>;
  readonly executionArn: string;
  readonly executionName: string;
  readonly stateMachineArn: string;
  readonly startDate: Date;
  /** Aborts the run (StopExecution, or the endpoint closing). */
  readonly signal: AbortSignal;
}

/** Runs `definition` on `input` (JSON text) to its end. Never throws. */
export async function runStateMachine(
  definition: AslDefinition,
  input: string,
  options: RunOptions,
): Promise<ExecutionResult> {
  const timeout = definition.TimeoutSeconds;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeout === undefined
      ? undefined
      : setTimeout(
          () => controller.abort(new StatesError('States.Timeout', 'The execution timed out')),
          timeout * 1000,
        );
  try {
    const output = await walk(definition, JSON.parse(input), { ...options, signal: controller.signal });
    return { status: 'SUCCEEDED', output: JSON.stringify(output ?? null) };
  } catch (err) {
    const reason = controller.signal.aborted ? controller.signal.reason : err;
    if (
      reason instanceof StatesError &&
      reason.error === 'States.Timeout' &&
      timer !== undefined &&
      controller.signal.aborted
    ) {
      return { status: 'TIMED_OUT', error: 'States.Timeout', cause: reason.message };
    }
    if (options.signal.aborted) return { status: 'ABORTED' };
    const failure = errorOf(reason);
    return { status: 'FAILED', error: failure.error, cause: failure.message };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }
}

async function walk(
  definition: AslDefinition,
  executionInput: unknown,
  options: RunOptions,
): Promise<unknown> {
  let name = definition.StartAt;
  let data = executionInput;
  const context = {
    Execution: {
      Id: options.executionArn,
      Name: options.executionName,
      StartTime: options.startDate.toISOString(),
      Input: executionInput,
    },
    StateMachine: { Id: options.stateMachineArn, Name: options.stateMachineArn.split(':').pop() },
    State: { Name: name, EnteredTime: new Date().toISOString() },
  };
  for (;;) {
    options.signal.throwIfAborted();
    const state = definition.States[name]!;
    context.State = { Name: name, EnteredTime: new Date().toISOString() };
    const input = state.InputPath === null ? {} : requirePath(state.InputPath ?? '$', data, context);
    const effective =
      state.Parameters === undefined ? input : applyTemplate(state.Parameters, input, context);
    let next: string | undefined;
    switch (state.Type) {
      case 'Pass':
        data = output(state, data, state.Result === undefined ? effective : state.Result, context);
        break;
      case 'Task': {
        const step = await runTask(state, effective, data, context, options);
        data = step.data;
        next = step.next;
        break;
      }
      case 'Choice': {
        const rule = (state.Choices ?? []).find((r) => compare(r, input, context));
        next = rule?.Next ?? state.Default;
        if (!next) throw new StatesError('States.NoChoiceMatched', `no choice rule matched in ${name}`);
        data = state.OutputPath === null ? {} : requirePath(state.OutputPath ?? '$', input, context);
        break;
      }
      case 'Wait': {
        const until = waitUntil(state, input, context);
        await sleep(Math.max(0, until - Date.now()), options.signal);
        data = state.OutputPath === null ? {} : requirePath(state.OutputPath ?? '$', input, context);
        break;
      }
      case 'Succeed':
        return state.OutputPath === null ? {} : requirePath(state.OutputPath ?? '$', input, context);
      case 'Fail':
        throw new StatesError(state.Error ?? 'States.Fail', state.Cause ?? '');
    }
    next ??= state.Next;
    // `End: true` (validated: every non-terminal state has Next or End).
    if (next === undefined) return data;
    name = next;
  }
}

function waitUntil(state: AslState, input: unknown, context: unknown): number {
  if (state.Seconds !== undefined) return Date.now() + state.Seconds * 1000;
  if (state.SecondsPath !== undefined)
    return Date.now() + Number(requirePath(state.SecondsPath, input, context)) * 1000;
  const stamp =
    state.Timestamp ?? (state.TimestampPath ? String(requirePath(state.TimestampPath, input, context)) : '');
  const at = Date.parse(stamp);
  if (Number.isNaN(at))
    throw new StatesError('States.Runtime', 'Wait needs Seconds, SecondsPath, Timestamp or TimestampPath');
  return at;
}

function output(state: AslState, rawInput: unknown, result: unknown, context: unknown): unknown {
  const combined =
    state.ResultPath === null ? rawInput : writePath(state.ResultPath ?? '$', rawInput, result);
  return state.OutputPath === null ? {} : requirePath(state.OutputPath ?? '$', combined, context);
}

async function runTask(
  state: AslState,
  effective: unknown,
  rawInput: unknown,
  context: unknown,
  options: RunOptions,
): Promise<{ data: unknown; next?: string }> {
  const fn = options.functions.get(functionName(state.Resource ?? ''))!;
  const attempts = new Map<Retrier, number>();
  for (;;) {
    try {
      const result = await callWithTimeout(fn, effective, state.TimeoutSeconds, options);
      const selected =
        state.ResultSelector === undefined ? result : applyTemplate(state.ResultSelector, result, context);
      return { data: output(state, rawInput, selected, context) };
    } catch (err) {
      if (options.signal.aborted) throw err;
      const failure = errorOf(err);
      const retrier = state.Retry?.find((r) => matches(r.ErrorEquals, failure.error));
      const used = retrier ? (attempts.get(retrier) ?? 0) : 0;
      if (retrier && used < (retrier.MaxAttempts ?? 3)) {
        attempts.set(retrier, used + 1);
        const interval = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** used;
        await sleep(interval * 1000, options.signal);
        continue;
      }
      const catcher = state.Catch?.find((c) => matches(c.ErrorEquals, failure.error));
      if (!catcher) throw failure;
      const errorOutput = { Error: failure.error, Cause: failure.message };
      const data =
        catcher.ResultPath === null ? rawInput : writePath(catcher.ResultPath ?? '$', rawInput, errorOutput);
      return { data, next: catcher.Next };
    }
  }
}

async function callWithTimeout(
  fn: TaskFunction,
  input: unknown,
  timeoutSeconds: number | undefined,
  options: RunOptions,
): Promise<unknown> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (timeoutSeconds === undefined) return;
    timer = setTimeout(() => {
      const err = new StatesError('States.Timeout', 'The task timed out');
      controller.abort(err);
      reject(err);
    }, timeoutSeconds * 1000);
  });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  try {
    const call = Promise.resolve().then(() =>
      fn(structuredClone(input), {
        executionArn: options.executionArn,
        executionName: options.executionName,
        signal: controller.signal,
      }),
    );
    return await Promise.race([call, timedOut, aborted]);
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }
}
