/**
 * `stepgate dev upstream|stepfunctions`: the demo's echo upstream and local Step Functions
 * endpoint as processes of their own (docker-compose.yml runs them as services): each prints its
 * URL once listening, answers what the gateway needs, and stops with exit 0 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DEMO_AWS_CREDENTIALS } from '../../src/dev/stepfunctions/demo-workflows.ts';
import { startStepgate } from '../support/stepgate-process.ts';
import { stepgate } from '../support/run-cli.ts';

const listening = (server: string) => new RegExp(`^stepgate dev ${server}: listening on (http://\\S+)`);

describe('stepgate dev', () => {
  test('upstream: echoes the request it received; SIGTERM → exit 0', async () => {
    const upstream = await startStepgate(['dev', 'upstream', '--port', '0'], { ready: listening('upstream') });
    const url = listening('upstream').exec(upstream.readyLine)![1]!;
    const res = await fetch(`${url}/orders/42?x=1`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'hello' });
    assert.equal(res.status, 200);
    const echoed = (await res.json()) as { method: string; url: string; headers: Record<string, string>; body: string };
    assert.deepEqual([echoed.method, echoed.url, echoed.headers['x-test'], echoed.body], ['POST', '/orders/42?x=1', 'yes', 'hello']);
    assert.equal(await upstream.stop(), 0);
  });

  test('stepfunctions: /healthz, SigV4-checked StartExecution of the demo "deploy" machine; SIGTERM → exit 0', async () => {
    const sfn = await startStepgate(['dev', 'stepfunctions', '--port', '0'], { ready: listening('stepfunctions') });
    const url = listening('stepfunctions').exec(sfn.readyLine)![1]!;
    assert.match(sfn.readyLine, /stateMachine:deploy/);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);

    const client = new SFNClient({ endpoint: url, region: 'us-east-1', credentials: { ...DEMO_AWS_CREDENTIALS } });
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:deploy',
        name: 'dev-test',
        input: JSON.stringify({ body: { service: 'orders', version: '1.0.0' } }),
      }),
    );
    const described = await client.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    assert.equal(described.name, 'dev-test');

    // Unsigned or wrongly signed requests are refused as AWS refuses them.
    const stranger = new SFNClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: 'x' } });
    await assert.rejects(stranger.send(new DescribeExecutionCommand({ executionArn: started.executionArn })), { name: 'UnrecognizedClientException' });
    client.destroy();
    stranger.destroy();
    assert.equal(await sfn.stop(), 0);
  });

  test('an unknown server or a bad port → exit 2', async () => {
    const unknown = await stepgate(['dev', 'idp']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /did you mean: stepgate dev upstream\|stepfunctions/);
    const port = await stepgate(['dev', 'upstream', '--port', '99999']);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /--port must be 0-65535/);
  });
});
