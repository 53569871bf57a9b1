/**
 * The Step Functions workload: StartExecution through stepgate (a bearer-authenticated POST that
 * the gateway audits durably, signs with SigV4 and forwards) against the same call made directly
 * with @aws-sdk/client-sfn. Both are driven by the same closed loop — a fixed number of callers,
 * each starting its next call when the last one is answered — because the direct call needs the
 * SDK on the client side, which wrk cannot be. The direct loop runs in a process of its own on
 * the proxies' CPU (clients/sfn-direct.ts), where stepgate does that same SDK work.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { Agent, request } from 'undici';
import { pinned } from './cpus.ts';
import { median } from './report.ts';

export const BENCH_AWS = Object.freeze({
  accessKeyId: 'AKIASTEPGATEBENCH001',
  secretAccessKey: 'stepgate-bench-secret-access-key',
});

export interface ClosedLoopResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Calls that failed or answered another status than expected. */
  readonly unexpected: number;
}

/** `concurrency` callers repeat `call` for `durationSec`; `call` resolves to "as expected". */
export async function closedLoop(
  call: () => Promise<boolean>,
  concurrency: number,
  durationSec: number,
): Promise<ClosedLoopResult> {
  const latencies: number[] = [];
  let unexpected = 0;
  const started = performance.now();
  const deadline = started + durationSec * 1000;
  const caller = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const ok = await call().catch(() => false);
      latencies.push(performance.now() - t);
      if (!ok) unexpected++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: latencies.length / elapsed,
    p50Ms: median(latencies),
    p99Ms:
      latencies[
        Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))
      ] ?? 0,
    unexpected,
  };
}

export interface SfnEndpoint {
  readonly url: string;
  readonly region: string;
  readonly stateMachineArn: string;
}

const BODY = JSON.stringify({
  service: 'orders',
  version: '1.2.3',
  commit: 'a'.repeat(40),
});

/** A client of the gateway's Step Functions route: POST, bearer token, expects 202. */
export function viaGateway(
  gatewayUrl: string,
  path: string,
  token: string,
  connections: number,
) {
  const dispatcher = new Agent({ connections, pipelining: 1 });
  const headers = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  };
  return {
    call: async (): Promise<boolean> => {
      const res = await request(gatewayUrl + path, {
        method: 'POST',
        headers,
        body: BODY,
        dispatcher,
      });
      await res.body.dump();
      return res.statusCode === 202;
    },
    close: () => dispatcher.close(),
  };
}

/** The same start made directly: the SDK signs it (SigV4) and the endpoint checks it. */
export function direct(endpoint: SfnEndpoint) {
  const client = new SFNClient({
    region: endpoint.region,
    endpoint: endpoint.url,
    // A copy: the SDK marks the credentials object it is given.
    credentials: { ...BENCH_AWS },
    maxAttempts: 1,
  });
  return {
    call: async (): Promise<boolean> => {
      const out = await client.send(
        new StartExecutionCommand({
          stateMachineArn: endpoint.stateMachineArn,
          name: randomUUID(),
          input: BODY,
        }),
      );
      return typeof out.executionArn === 'string';
    },
    close: () => client.destroy(),
  };
}

/** Runs the direct closed loop (warm-up, then measured) in a child process on `cpus`. */
export function directInProcess(
  endpoint: SfnEndpoint,
  connections: number,
  warmupSec: number,
  durationSec: number,
  cpus: string | undefined,
): Promise<ClosedLoopResult> {
  const script = join(import.meta.dirname, '..', 'clients', 'sfn-direct.ts');
  const args = [
    script,
    JSON.stringify(endpoint),
    String(connections),
    String(warmupSec),
    String(durationSec),
  ];
  const [command, argv] = pinned(cpus, process.execPath, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    // Bounded: the loops stop themselves; this only guards against a hang.
    const guard = setTimeout(
      () => child.kill('SIGKILL'),
      (warmupSec + durationSec + 30) * 1000,
    );
    child.once('exit', (code) => {
      clearTimeout(guard);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as ClosedLoopResult);
      else
        reject(
          new Error(
            `the direct Step Functions client failed (${code}):\n${out}`,
          ),
        );
    });
  });
}
