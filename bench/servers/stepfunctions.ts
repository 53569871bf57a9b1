/**
 * The local Step Functions endpoint (src/dev/stepfunctions: the AWS JSON protocol, SigV4 checked
 * on every call) with one state machine, `bench`, a single Pass state: what is measured is the
 * call, not the workflow. Prints `{"url", "region", "stateMachineArn"}`; exits on SIGTERM.
 * Usage: `node bench/servers/stepfunctions.ts ACCESS_KEY_ID SECRET_ACCESS_KEY`.
 */
import { startLocalStepFunctions } from '../../src/dev/stepfunctions/server.ts';

const [accessKeyId, secretAccessKey] = process.argv.slice(2);
if (!accessKeyId || !secretAccessKey)
  throw new TypeError('usage: stepfunctions.ts ACCESS_KEY_ID SECRET');

const sfn = await startLocalStepFunctions({
  credentials: [{ accessKeyId, secretAccessKey, userName: 'bench' }],
  stateMachines: [
    {
      name: 'bench',
      definition: {
        StartAt: 'Done',
        States: { Done: { Type: 'Pass', End: true } },
      },
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({ url: sfn.url, region: sfn.region, stateMachineArn: sfn.stateMachineArn('bench') })}\n`,
);
process.once('SIGTERM', () => {
  sfn.close().then(() => process.exit(0));
});
