/** The recent executions a caller sees on /.stepgate/: theirs only, newest first, with a statusUrl. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { executionName } from '../../../src/targets/execution/naming.ts';
import { listRecentExecutions } from '../../../src/targets/stepfunctions/recent.ts';
import { startTestStepFunctions, TEST_AWS, type TestStepFunctions } from '../../support/stepfunctions.ts';

let sfn: TestStepFunctions;
let client: SFNClient;

before(async () => {
  sfn = await startTestStepFunctions();
  client = new SFNClient({
    endpoint: sfn.url,
    region: sfn.region,
    credentials: { ...TEST_AWS },
    maxAttempts: 1,
  });
});
after(() => sfn.close());

describe('recent executions', () => {
  it('lists only the caller’s executions, newest first', async () => {
    const start = (sub: string, requestId: string) =>
      client.send(
        new StartExecutionCommand({
          stateMachineArn: sfn.stateMachineArn('deploy'),
          name: executionName({
            identity: { issuer: 'ci', sub },
            route: 'deploy',
            key: undefined,
            requestId,
          }),
          input: '{}',
        }),
      );
    const a1 = await start('alice', 'a1');
    await start('bob', 'b1');
    const a2 = await start('alice', 'a2');
    const target = {
      name: 'deploy',
      stateMachineArn: sfn.stateMachineArn('deploy'),
      statusBase: '/executions/',
    };
    const mine = await listRecentExecutions(client, target, 'ci/alice', 10);
    assert.deepEqual(
      mine.map((e) => e.executionArn),
      [a2.executionArn, a1.executionArn],
    );
    assert.equal(mine[0]?.statusUrl, `/executions/${a2.executionArn}`);
    assert.equal(mine[0]?.workflow, 'deploy');
    assert.equal((await listRecentExecutions(client, target, 'ci/alice', 1)).length, 1);
    assert.deepEqual(await listRecentExecutions(client, target, 'other/alice', 10), []);
  });
});
