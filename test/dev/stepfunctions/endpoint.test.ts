/**
 * The local endpoint behaves as Step Functions and STS do where the gateway depends on it:
 * executions kept by name, StartSyncExecution only for Express, ListExecutions pages, STS limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
} from '@aws-sdk/client-sfn';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { startTestStepFunctions, TEST_AWS, type TestStepFunctions } from '../../support/stepfunctions.ts';

let sfn: TestStepFunctions;
let client: SFNClient;
let sts: STSClient;

before(async () => {
  sfn = await startTestStepFunctions({ allowedRoles: ['arn:aws:iam::123456789012:role/deployer'] });
  client = new SFNClient({
    endpoint: sfn.url,
    region: sfn.region,
    credentials: { ...TEST_AWS },
    disableHostPrefix: true,
    maxAttempts: 1,
  });
  sts = new STSClient({
    endpoint: sfn.url,
    region: sfn.region,
    credentials: { ...TEST_AWS },
    maxAttempts: 1,
  });
});
after(() => sfn.close());

const start = (name: string, input: string) =>
  client.send(new StartExecutionCommand({ stateMachineArn: sfn.stateMachineArn('deploy'), name, input }));

describe('executions kept by name', () => {
  it('same name and input while running: the same execution; other input: ExecutionAlreadyExists', async () => {
    const input = JSON.stringify({ body: { waitSeconds: 1 } });
    const first = await start('by-name-1', input);
    const again = await start('by-name-1', input);
    assert.equal(again.executionArn, first.executionArn);
    assert.equal(again.startDate?.getTime(), first.startDate?.getTime());
    await assert.rejects(start('by-name-1', '{"other":true}'), { name: 'ExecutionAlreadyExists' });
    assert.equal(sfn.executions().filter((e) => e.name === 'by-name-1').length, 1);
  });

  it('after it closed, the name is taken whatever the input (as in AWS)', async () => {
    const { executionArn } = await start('by-name-2', '{}');
    await sfn.finished(executionArn!);
    await assert.rejects(start('by-name-2', '{}'), { name: 'ExecutionAlreadyExists' });
  });

  it('validates names and inputs as AWS does', async () => {
    await assert.rejects(start('has space', '{}'), { name: 'InvalidName' });
    await assert.rejects(start('x'.repeat(81), '{}'), { name: 'InvalidName' });
    await assert.rejects(start('ok', 'not json'), { name: 'InvalidExecutionInput' });
    await assert.rejects(start('big', JSON.stringify('x'.repeat(262_144))), {
      name: 'InvalidExecutionInput',
    });
    await assert.rejects(
      client.send(new StartExecutionCommand({ stateMachineArn: sfn.stateMachineArn('missing'), name: 'n' })),
      { name: 'StateMachineDoesNotExist' },
    );
  });

  it('StartSyncExecution is for Express machines only, and Express names are not kept', async () => {
    await assert.rejects(
      client.send(
        new StartSyncExecutionCommand({ stateMachineArn: sfn.stateMachineArn('deploy'), input: '{}' }),
      ),
      { name: 'StateMachineTypeNotSupported' },
    );
    const sync = (n: string) =>
      client.send(
        new StartSyncExecutionCommand({
          stateMachineArn: sfn.stateMachineArn('check'),
          name: 'same',
          input: JSON.stringify({ body: { name: n } }),
        }),
      );
    const a = await sync('a');
    const b = await sync('b');
    assert.equal(a.status, 'SUCCEEDED');
    assert.notEqual(a.executionArn, b.executionArn);
    await assert.rejects(client.send(new DescribeExecutionCommand({ executionArn: a.executionArn })), {
      name: 'ExecutionDoesNotExist',
    });
  });

  it('ListExecutions lists newest first, by status, in pages', async () => {
    for (let i = 0; i < 3; i++) await start(`list-${i}`, '{}');
    const page = await client.send(
      new ListExecutionsCommand({ stateMachineArn: sfn.stateMachineArn('deploy'), maxResults: 2 }),
    );
    assert.equal(page.executions?.length, 2);
    assert.equal(page.executions?.[0]?.name, 'list-2');
    assert.ok(page.nextToken);
    const next = await client.send(
      new ListExecutionsCommand({
        stateMachineArn: sfn.stateMachineArn('deploy'),
        maxResults: 2,
        nextToken: page.nextToken,
      }),
    );
    assert.equal(next.executions?.[0]?.name, 'list-0');
  });
});

describe('the local STS', () => {
  const assume = (input: Partial<ConstructorParameters<typeof AssumeRoleCommand>[0]>) =>
    sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::123456789012:role/deployer',
        RoleSessionName: 'gw',
        ...input,
      }),
    );

  it('issues credentials the SFN endpoint accepts, only with their session token', async () => {
    const out = await assume({ SourceIdentity: 'alice', Tags: [{ Key: 'team', Value: 'platform' }] });
    const c = out.Credentials!;
    const session = new SFNClient({
      endpoint: sfn.url,
      region: sfn.region,
      maxAttempts: 1,
      credentials: {
        accessKeyId: c.AccessKeyId!,
        secretAccessKey: c.SecretAccessKey!,
        sessionToken: c.SessionToken!,
      },
    });
    const { executionArn } = await session.send(
      new StartExecutionCommand({ stateMachineArn: sfn.stateMachineArn('deploy'), name: 'as-alice' }),
    );
    const execution = sfn.executions().find((e) => e.executionArn === executionArn)!;
    assert.equal(execution.startedBy.sourceIdentity, 'alice');
    assert.deepEqual(execution.startedBy.sessionTags, { team: 'platform' });
    const noToken = new SFNClient({
      endpoint: sfn.url,
      region: sfn.region,
      maxAttempts: 1,
      credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey! },
    });
    await assert.rejects(
      noToken.send(new ListExecutionsCommand({ stateMachineArn: sfn.stateMachineArn('deploy') })),
      { name: 'UnrecognizedClientException' },
    );
  });

  const refused: [string, Partial<ConstructorParameters<typeof AssumeRoleCommand>[0]>, string][] = [
    ['a SourceIdentity with "/"', { SourceIdentity: 'a/b' }, 'ValidationError'],
    ['a SourceIdentity starting with aws:', { SourceIdentity: 'aws:x' }, 'ValidationError'],
    ['a one-character SourceIdentity', { SourceIdentity: 'a' }, 'ValidationError'],
    ['a tag value with a quote', { Tags: [{ Key: 'k', Value: 'a"b' }] }, 'ValidationError'],
    [
      'duplicate tag keys in another case',
      {
        Tags: [
          { Key: 'k', Value: '1' },
          { Key: 'K', Value: '2' },
        ],
      },
      'ValidationError',
    ],
    ['a role it may not assume', { RoleArn: 'arn:aws:iam::123456789012:role/admin' }, 'AccessDenied'],
  ];
  for (const [what, input, code] of refused) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(assume(input), { name: code });
    });
  }
});
