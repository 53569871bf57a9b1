/**
 * The direct side of the Step Functions comparison, in its own process so that it can sit where
 * stepgate sits (the proxies' CPU): the SDK's work — request building, SigV4 — is then measured
 * on the same core as stepgate's. Runs a discarded warm-up, then the measured closed loop, and
 * prints the result as one JSON line.
 * Usage: `node bench/clients/sfn-direct.ts ENDPOINT_JSON CONNECTIONS WARMUP_SEC DURATION_SEC`.
 */
import { closedLoop, direct, type SfnEndpoint } from '../lib/sfn.ts';

const [endpoint, connections, warmupSec, durationSec] = process.argv.slice(2);
if (!endpoint || !connections || !warmupSec || !durationSec) {
  throw new TypeError(
    'usage: sfn-direct.ts ENDPOINT_JSON CONNECTIONS WARMUP_SEC DURATION_SEC',
  );
}
const client = direct(JSON.parse(endpoint) as SfnEndpoint);
await closedLoop(client.call, Number(connections), Number(warmupSec));
const result = await closedLoop(
  client.call,
  Number(connections),
  Number(durationSec),
);
client.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
