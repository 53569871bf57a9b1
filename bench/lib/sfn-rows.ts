/**
 * The Step Functions rows: StartExecution through stepgate (intent audited durably, SigV4 by the
 * gateway) and directly with the SDK, alternating; rows `direct` (the SDK call) and `stepgate`.
 */
import { aggregate, type Measurement, type Row } from './report.ts';
import { SFN_PATH, type Settings } from './settings.ts';
import { closedLoop, directInProcess, type SfnEndpoint, viaGateway } from './sfn.ts';
import { rotate, type Stack } from './stack.ts';
import type { Workloads } from './workloads.ts';

export async function stepFunctions(stack: Stack, workloads: Workloads, settings: Settings): Promise<Row[]> {
  const endpoint = stack.sfn!.info as unknown as SfnEndpoint;
  const token = workloads.repeated.tokens.tokens[0]!;
  const { connections, warmupSec, durationSec } = settings;
  const measure = async (target: 'direct' | 'stepgate'): Promise<Measurement> => {
    if (target === 'direct') {
      const result = await directInProcess(endpoint, connections, warmupSec, durationSec, stack.placement.proxy);
      return { ...result, rssMb: stack.sfn!.rssMb() };
    }
    const client = viaGateway(stack.gateway.url, SFN_PATH, token, connections);
    try {
      await closedLoop(client.call, connections, warmupSec);
      const result = await closedLoop(client.call, connections, durationSec);
      return { ...result, rssMb: stack.gateway.rssMb() };
    } finally {
      await client.close();
    }
  };
  const runs = { direct: [] as Measurement[], stepgate: [] as Measurement[] };
  for (let round = 0; round < settings.rounds; round++) {
    for (const target of rotate(['direct', 'stepgate'] as const, round)) runs[target].push(await measure(target));
  }
  const label = 'Step Functions StartExecution (direct: SDK)';
  return [aggregate(label, 'direct', runs.direct), aggregate(label, 'stepgate', runs.stepgate)];
}
