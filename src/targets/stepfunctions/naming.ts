/**
 * Step Functions execution ARNs. Names are built by `../execution/naming.ts` (shared with Argo
 * Workflows): only `[a-z2-7]`, `-` and the request id's hex, 60 characters, valid for Standard
 * and Express workflows alike (Express names allow only `0-9A-Za-z-_`; the limit is 80).
 */
const EXECUTION_ARN =
  /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):execution:([A-Za-z0-9_-]{1,80}):([^:/\s]{1,80})$/;

export interface ParsedExecutionArn {
  readonly stateMachineArn: string;
  readonly name: string;
}

/** A Standard execution's ARN, split; `undefined` for anything else. */
export function parseExecutionArn(arn: string): ParsedExecutionArn | undefined {
  const m = EXECUTION_ARN.exec(arn);
  if (!m) return undefined;
  const [, partition, region, account, machine, name] = m as unknown as string[];
  return {
    stateMachineArn: `arn:${partition}:states:${region}:${account}:stateMachine:${machine}`,
    name: name!,
  };
}

/** The ARN StartExecution gives a Standard execution of `stateMachineArn` named `name`. */
export function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
