/** The local States Language interpreter: each supported state, paths, Retry/Catch, time-outs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AslDefinition,
  type ExecutionResult,
  runStateMachine,
  type TaskFunction,
  TaskError,
  validateDefinition,
} from '../../../src/dev/stepfunctions/asl.ts';

function run(
  definition: AslDefinition,
  input: unknown,
  functions: Record<string, TaskFunction> = {},
): Promise<ExecutionResult> {
  return runStateMachine(definition, JSON.stringify(input), {
    functions: new Map(Object.entries(functions)),
    executionArn: 'arn:aws:states:us-east-1:123456789012:execution:m:e',
    executionName: 'e',
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m',
    startDate: new Date(0),
    signal: new AbortController().signal,
  });
}

const output = (r: ExecutionResult) => {
  assert.equal(r.status, 'SUCCEEDED', JSON.stringify(r));
  return JSON.parse((r as { output: string }).output);
};

describe('the States Language interpreter', () => {
  it('Pass with Result, ResultPath, InputPath, OutputPath and Parameters', async () => {
    const def: AslDefinition = {
      StartAt: 'A',
      States: {
        A: { Type: 'Pass', Result: { x: 1 }, ResultPath: '$.a', Next: 'B' },
        B: {
          Type: 'Pass',
          InputPath: '$.a',
          Parameters: { 'y.$': '$.x', 'name.$': '$$.Execution.Name', z: 'lit' },
          Next: 'C',
        },
        C: { Type: 'Pass', OutputPath: '$.y', End: true },
      },
    };
    assert.equal(output(await run(def, { keep: true })), 1);
    def.States['C'] = { Type: 'Pass', End: true };
    assert.deepEqual(output(await run(def, {})), { y: 1, name: 'e', z: 'lit' });
  });

  it('Task on a local function, with ResultSelector, Retry and Catch', async () => {
    let calls = 0;
    const flaky: TaskFunction = () => {
      calls++;
      if (calls < 3) throw new TaskError('Flaky', 'try again');
      return { value: calls, noise: 'x' };
    };
    const def: AslDefinition = {
      StartAt: 'T',
      States: {
        T: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:us-east-1:123456789012:function:flaky',
          ResultSelector: { 'v.$': '$.value' },
          ResultPath: '$.result',
          Retry: [{ ErrorEquals: ['Flaky'], IntervalSeconds: 0, MaxAttempts: 2 }],
          End: true,
        },
      },
    };
    assert.deepEqual(output(await run(def, { in: 1 }, { flaky })), { in: 1, result: { v: 3 } });
    calls = -10;
    const caught: AslDefinition = {
      StartAt: 'T',
      States: {
        T: {
          ...def.States['T']!,
          End: undefined,
          Next: 'Ok',
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Handled', ResultPath: '$.err' }],
        },
        Ok: { Type: 'Succeed' },
        Handled: { Type: 'Pass', End: true },
      },
    };
    assert.deepEqual(output(await run(caught, {}, { flaky })), {
      err: { Error: 'Flaky', Cause: 'try again' },
    });
  });

  it('Choice rules: comparisons, And/Or/Not, Default, and no match', async () => {
    const def: AslDefinition = {
      StartAt: 'C',
      States: {
        C: {
          Type: 'Choice',
          Choices: [
            {
              And: [
                { Variable: '$.n', NumericGreaterThan: 10 },
                { Not: { Variable: '$.env', StringMatches: 'prod*' } },
              ],
              Next: 'Big',
            },
            {
              Or: [
                { Variable: '$.env', StringMatches: 'prod*' },
                { Variable: '$.force', BooleanEquals: true },
              ],
              Next: 'Prod',
            },
          ],
          Default: 'Other',
        },
        Big: { Type: 'Pass', Result: 'big', End: true },
        Prod: { Type: 'Pass', Result: 'prod', End: true },
        Other: { Type: 'Pass', Result: 'other', End: true },
      },
    };
    assert.equal(output(await run(def, { n: 11, env: 'dev' })), 'big');
    assert.equal(output(await run(def, { n: 11, env: 'prod-eu' })), 'prod');
    assert.equal(output(await run(def, { n: 1, force: true })), 'prod');
    assert.equal(output(await run(def, { n: 1 })), 'other');
    delete def.States['C']!.Default;
    const r = await run(def, { n: 1 });
    assert.deepEqual(r, {
      status: 'FAILED',
      error: 'States.NoChoiceMatched',
      cause: 'no choice rule matched in C',
    });
  });

  it('Wait, Succeed and Fail', async () => {
    const def: AslDefinition = {
      StartAt: 'W',
      States: {
        W: { Type: 'Wait', SecondsPath: '$.s', Next: 'C' },
        C: { Type: 'Choice', Choices: [{ Variable: '$.ok', BooleanEquals: true, Next: 'S' }], Default: 'F' },
        S: { Type: 'Succeed' },
        F: { Type: 'Fail', Error: 'Nope', Cause: 'not ok' },
      },
    };
    const started = Date.now();
    assert.deepEqual(output(await run(def, { s: 0.05, ok: true })), { s: 0.05, ok: true });
    assert.ok(Date.now() - started >= 45);
    assert.deepEqual(await run(def, { s: 0, ok: false }), {
      status: 'FAILED',
      error: 'Nope',
      cause: 'not ok',
    });
  });

  it('TimeoutSeconds of the machine and of a Task', async () => {
    const slow: TaskFunction = (_input, { signal }) =>
      new Promise((resolve) => signal.addEventListener('abort', resolve));
    const machine: AslDefinition = {
      StartAt: 'W',
      TimeoutSeconds: 0.05,
      States: { W: { Type: 'Wait', Seconds: 5, End: true } },
    };
    assert.equal((await run(machine, {})).status, 'TIMED_OUT');
    const task: AslDefinition = {
      StartAt: 'T',
      States: { T: { Type: 'Task', Resource: 'slow', TimeoutSeconds: 0.05, End: true } },
    };
    const r = await run(task, {}, { slow });
    assert.equal(r.status, 'FAILED');
    assert.equal((r as { error: string }).error, 'States.Timeout');
  });

  it('a path that matches nothing fails the execution with States.Runtime', async () => {
    const def: AslDefinition = {
      StartAt: 'A',
      States: { A: { Type: 'Pass', InputPath: '$.missing', End: true } },
    };
    assert.equal(((await run(def, {})) as { error: string }).error, 'States.Runtime');
  });

  it('refuses definitions it cannot run', () => {
    const problems = validateDefinition(
      {
        StartAt: 'X',
        States: {
          A: { Type: 'Map' as never, End: true },
          B: { Type: 'Task', Resource: 'nothing', Next: 'Z' },
          C: { Type: 'Pass' },
        },
      },
      new Set(),
    );
    assert.equal(problems.length, 5, problems.join('\n'));
  });
});
