/**
 * The local endpoint's state: state machines and their executions, with Step Functions' rules
 * for names and idempotency. A Standard execution is kept by name: StartExecution with the name
 * of a running execution and the same input returns it again; any other reuse of a name is
 * ExecutionAlreadyExists (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
 * Express executions are not kept by name (AWS does not deduplicate them either).
 */
import { randomUUID } from 'node:crypto';
import {
  type AslDefinition,
  type ExecutionResult,
  runStateMachine,
  type TaskFunction,
  validateDefinition,
} from './asl.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** Who made a call, as CloudTrail would name them (`userIdentity`). */
export interface Principal {
  readonly arn: string;
  readonly accessKeyId: string;
  readonly sourceIdentity?: string;
  readonly sessionTags?: Readonly<Record<string, string>>;
}

export interface Execution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startDate: Date;
  readonly traceHeader?: string;
  readonly startedBy: Principal;
  status: ExecutionStatus;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  /** Settles when the execution stops. */
  readonly done: Promise<Execution>;
}

export interface LocalStateMachine {
  readonly name: string;
  /** Default STANDARD. StartSyncExecution needs EXPRESS. */
  readonly type?: 'STANDARD' | 'EXPRESS';
  readonly definition: AslDefinition;
}

/** An error of the local AWS endpoints (Step Functions, STS): its code (`__type`), message and HTTP status. */
export class AwsServiceError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** 256 KiB of UTF-8: the largest execution input or output Step Functions takes. */
export const MAX_PAYLOAD_BYTES = 262_144;

// Control characters in this regex are intended: control characters are what AWS refuses in names.
const BAD_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

export interface StartRequest {
  readonly stateMachineArn?: unknown;
  readonly name?: unknown;
  readonly input?: unknown;
  readonly traceHeader?: unknown;
}

export class ExecutionStore {
  readonly region: string;
  readonly accountId: string;
  readonly #machines = new Map<string, LocalStateMachine & { type: 'STANDARD' | 'EXPRESS' }>();
  readonly #executions = new Map<string, Execution>();
  readonly #byName = new Map<string, Execution>();
  readonly #functions: Map<string, TaskFunction>;
  readonly #stop = new AbortController();
  /** Running executions beyond this are ExecutionLimitExceeded (AWS: 1,000,000 per account). */
  maxRunning = Number.POSITIVE_INFINITY;

  constructor(region: string, accountId: string, functions: Readonly<Record<string, TaskFunction>>) {
    this.region = region;
    this.accountId = accountId;
    this.#functions = new Map(Object.entries(functions));
  }

  stateMachineArn(name: string): string {
    return `arn:aws:states:${this.region}:${this.accountId}:stateMachine:${name}`;
  }

  /** Adds (or replaces) a state machine; a definition the interpreter cannot run is refused. */
  define(machine: LocalStateMachine): string {
    const problems = validateDefinition(machine.definition, new Set(this.#functions.keys()));
    if (problems.length > 0) throw new Error(`state machine ${machine.name}: ${problems.join('; ')}`);
    const arn = this.stateMachineArn(machine.name);
    this.#machines.set(arn, { ...machine, type: machine.type ?? 'STANDARD' });
    return arn;
  }

  registerFunction(name: string, fn: TaskFunction): void {
    this.#functions.set(name, fn);
  }

  /** Every execution started, oldest first. */
  all(): Execution[] {
    return [...this.#executions.values()];
  }

  get(executionArn: string): Execution | undefined {
    return this.#executions.get(executionArn);
  }

  #machine(arn: unknown): LocalStateMachine & { type: 'STANDARD' | 'EXPRESS' } {
    if (typeof arn !== 'string' || !/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/.test(arn)) {
      throw new AwsServiceError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
    }
    const machine = this.#machines.get(arn);
    if (!machine) throw new AwsServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  #checked(request: StartRequest): { name: string; input: string; traceHeader?: string } {
    const name = request.name === undefined ? randomUUID() : request.name;
    if (typeof name !== 'string' || name.length < 1 || name.length > 80 || BAD_NAME.test(name)) {
      throw new AwsServiceError('InvalidName', `Invalid Name: '${String(name)}'`);
    }
    const input = request.input === undefined ? '{}' : request.input;
    if (typeof input !== 'string' || Buffer.byteLength(input) > MAX_PAYLOAD_BYTES) {
      throw new AwsServiceError(
        'InvalidExecutionInput',
        'Invalid State Machine Execution Input: too large or not a string',
      );
    }
    try {
      JSON.parse(input);
    } catch {
      throw new AwsServiceError('InvalidExecutionInput', 'Invalid State Machine Execution Input: not JSON');
    }
    const trace = request.traceHeader;
    if (
      trace !== undefined &&
      (typeof trace !== 'string' || trace.length > 256 || !/^[\x20-\x7e]*$/.test(trace))
    ) {
      throw new AwsServiceError('ValidationException', 'traceHeader must be at most 256 printable ASCII characters');
    }
    return { name, input, ...(typeof trace === 'string' ? { traceHeader: trace } : {}) };
  }

  /** StartExecution: `{ execution, created }`; `created` is false for an idempotent repeat. */
  start(request: StartRequest, principal: Principal): { execution: Execution; created: boolean } {
    const machine = this.#machine(request.stateMachineArn);
    const { name, input, traceHeader } = this.#checked(request);
    const arn = this.stateMachineArn(machine.name);
    if (machine.type === 'STANDARD') {
      const existing = this.#byName.get(`${arn}\0${name}`);
      if (existing) {
        if (existing.status === 'RUNNING' && existing.input === input)
          return { execution: existing, created: false };
        throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
      }
    }
    return { execution: this.#launch(machine, arn, name, input, traceHeader, principal), created: true };
  }

  /** StartSyncExecution: runs an Express execution to its end. */
  async startSync(request: StartRequest, principal: Principal): Promise<Execution> {
    const machine = this.#machine(request.stateMachineArn);
    if (machine.type !== 'EXPRESS') {
      throw new AwsServiceError(
        'StateMachineTypeNotSupported',
        'This operation is not supported by this type of state machine',
      );
    }
    const { name, input, traceHeader } = this.#checked(request);
    return this.#launch(machine, this.stateMachineArn(machine.name), name, input, traceHeader, principal)
      .done;
  }

  #launch(
    machine: LocalStateMachine & { type: 'STANDARD' | 'EXPRESS' },
    stateMachineArn: string,
    name: string,
    input: string,
    traceHeader: string | undefined,
    principal: Principal,
  ): Execution {
    const running = this.all().filter((e) => e.status === 'RUNNING').length;
    if (running >= this.maxRunning) {
      throw new AwsServiceError(
        'ExecutionLimitExceeded',
        'The maximum number of running executions has been reached.',
      );
    }
    const executionArn =
      machine.type === 'EXPRESS'
        ? `arn:aws:states:${this.region}:${this.accountId}:express:${machine.name}:${name}:${randomUUID()}`
        : `arn:aws:states:${this.region}:${this.accountId}:execution:${machine.name}:${name}`;
    const startDate = new Date();
    let settle!: (e: Execution) => void;
    const done = new Promise<Execution>((resolve) => {
      settle = resolve;
    });
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      input,
      startDate,
      ...(traceHeader === undefined ? {} : { traceHeader }),
      startedBy: principal,
      status: 'RUNNING',
      done,
    };
    this.#executions.set(executionArn, execution);
    if (machine.type === 'STANDARD') this.#byName.set(`${stateMachineArn}\0${name}`, execution);
    void runStateMachine(machine.definition, input, {
      functions: this.#functions,
      executionArn,
      executionName: name,
      stateMachineArn,
      startDate,
      signal: this.#stop.signal,
    }).then((result) => {
      finish(execution, result);
      settle(execution);
    });
    return execution;
  }

  describe(executionArn: unknown): Execution {
    if (
      typeof executionArn !== 'string' ||
      !/^arn:aws[a-z-]*:states:[^:]+:\d{12}:(execution|express):/.test(executionArn)
    ) {
      throw new AwsServiceError('InvalidArn', `Invalid Arn: '${String(executionArn)}'`);
    }
    const execution = this.#executions.get(executionArn);
    // DescribeExecution does not serve Express executions.
    if (!execution || executionArn.includes(':express:')) {
      throw new AwsServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    }
    return execution;
  }

  list(stateMachineArn: unknown, statusFilter?: unknown): Execution[] {
    const machine = this.#machine(stateMachineArn);
    const arn = this.stateMachineArn(machine.name);
    return this.all()
      .filter((e) => e.stateMachineArn === arn && !e.executionArn.includes(':express:'))
      .filter((e) => statusFilter === undefined || e.status === statusFilter)
      .reverse();
  }

  /** Aborts every running execution (the endpoint is closing). */
  close(): void {
    this.#stop.abort(new Error('the local endpoint closed'));
  }
}

function finish(execution: Execution, result: ExecutionResult): void {
  execution.stopDate = new Date();
  execution.status = result.status;
  if (result.status === 'SUCCEEDED') {
    if (Buffer.byteLength(result.output) > MAX_PAYLOAD_BYTES) {
      execution.status = 'FAILED';
      execution.error = 'States.DataLimitExceeded';
      execution.cause =
        'The state/task returned a result with a size exceeding the maximum number of bytes service limit.';
    } else {
      execution.output = result.output;
    }
  } else if (result.status !== 'ABORTED') {
    execution.error = result.error;
    execution.cause = result.cause;
  }
}
