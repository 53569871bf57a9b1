/**
 * The servers under test, each its own process: the upstream, the bare proxy (@fastify/http-proxy) in front of it,
 * stepgate in front of it (an RS256 issuer, a few routes, a file audit sink with the hash chain
 * and failClosed, as in production), and — once src/ has the Step Functions target — the local
 * Step Functions endpoint with a stepgate route to it. Also the smoke check that every server
 * answers as expected before anything is measured, and the runner that loads them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { Placement } from './cpus.ts';
import type { BenchIssuer } from './issuer.ts';
import { SCOPE } from './issuer.ts';
import type { Loader, LoadResult } from './load.ts';
import { type ServerProcess, startServer } from './processes.ts';
import type { Measurement, TargetName } from './report.ts';
import { PATH, ROOT, SFN_PATH, type Settings } from './settings.ts';
import { BENCH_AWS, type SfnEndpoint, viaGateway } from './sfn.ts';
import type { Workload, Workloads } from './workloads.ts';

/** The Step Functions workload runs once the target and the local endpoint exist in src/. */
const SFN_AVAILABLE =
  existsSync(join(ROOT, 'src', 'targets', 'stepfunctions', 'target.ts')) &&
  existsSync(join(ROOT, 'src', 'dev', 'stepfunctions', 'server.ts'));

export interface Stack {
  readonly upstream: ServerProcess;
  readonly bare: ServerProcess;
  /** The local Step Functions endpoint, when src/ has the Step Functions target. */
  readonly sfn: ServerProcess | undefined;
  gateway: ServerProcess;
  /** Starts another stepgate on the same config (for profiles: `BENCH_PROFILE_DIR`). */
  readonly startGateway: (env?: Readonly<Record<string, string>>) => Promise<ServerProcess>;
  readonly placement: Placement;
  stop(): Promise<void>;
}

function gatewayConfig(
  issuer: BenchIssuer,
  upstreamUrl: string,
  auditFile: string,
  sfn: SfnEndpoint | undefined,
): Record<string, unknown> {
  const decoy = (name: string, path: string) => ({
    name,
    path,
    methods: ['GET', 'POST'],
    target: 'api',
    allow: { scopes: [`${name}:use`] },
  });
  const workflow = sfn && {
    target: {
      type: 'stepfunctions',
      stateMachineArn: sfn.stateMachineArn,
      region: sfn.region,
      endpoint: sfn.url,
    },
    route: {
      name: 'workflow',
      path: SFN_PATH,
      methods: ['POST'],
      target: 'workflow',
      allow: { scopes: [SCOPE] },
    },
  };
  return {
    server: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    issuers: [
      {
        name: 'bench',
        issuer: issuer.issuer,
        jwksUri: issuer.jwksUri,
        audiences: ['stepgate'],
        algorithms: ['RS256'],
      },
    ],
    targets: {
      api: { type: 'http', url: upstreamUrl },
      ...(workflow ? { workflow: workflow.target } : {}),
    },
    // A few routes ahead of the one that matches, as a real config has.
    routes: [
      decoy('orders', '/orders/*'),
      decoy('billing', '/billing/:account/*'),
      decoy('reports', '/reports/*'),
      {
        name: 'api',
        path: '/api/*',
        methods: ['GET'],
        target: 'api',
        allow: { scopes: [SCOPE] },
      },
      ...(workflow ? [workflow.route] : []),
    ],
    audit: {
      sinks: [{ type: 'file', path: auditFile }],
      claims: ['email', 'preferred_username'],
      failClosed: true,
      hashChain: true,
    },
    logging: { level: 'info' },
  };
}

async function waitReady(adminUrl: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (
      (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.status === 200
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('stepgate did not become ready (JWKS not fetched?)');
}

export async function startStack(
  issuer: BenchIssuer,
  dir: string,
  placement: Placement,
): Promise<Stack> {
  const upstream = await startServer('upstream', 'upstream.ts', {
    cpus: placement.rest,
  });
  const bare = await startServer('bare', 'bare-proxy.ts', {
    args: [upstream.url],
    cpus: placement.proxy,
  });
  const sfn = SFN_AVAILABLE
    ? await startServer('stepfunctions', 'stepfunctions.ts', {
        args: [BENCH_AWS.accessKeyId, BENCH_AWS.secretAccessKey],
        cpus: placement.rest,
      })
    : undefined;
  const endpoint = sfn?.info as SfnEndpoint | undefined;
  const config = JSON.stringify(
    gatewayConfig(issuer, upstream.url, join(dir, 'audit.jsonl'), endpoint),
  );
  // The AWS SDK's default credential chain finds the local endpoint's keys in the environment.
  const awsEnv = {
    AWS_ACCESS_KEY_ID: BENCH_AWS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: BENCH_AWS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const startGateway = async (env: Readonly<Record<string, string>> = {}) => {
    const server = await startServer('stepgate', 'gateway.ts', {
      args: [config],
      env: { ...awsEnv, ...env },
      cpus: placement.proxy,
    });
    await waitReady(server.info['adminUrl'] as string);
    return server;
  };
  const stack: Stack = {
    upstream,
    bare,
    sfn,
    gateway: await startGateway(),
    startGateway,
    placement,
    async stop() {
      await Promise.all([
        stack.gateway.stop(),
        bare.stop(),
        upstream.stop(),
        sfn?.stop(),
      ]);
    },
  };
  return stack;
}

async function expectStatus(
  url: string,
  token: string,
  expected: number,
  what: string,
): Promise<void> {
  const res = await fetch(
    url,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  );
  await res.arrayBuffer();
  if (res.status !== expected) {
    throw new Error(
      `smoke check: ${what} answered ${res.status}, expected ${expected}`,
    );
  }
}

/** Every server answers what the workloads expect of it, before anything is measured. */
export async function smokeCheck(
  stack: Stack,
  workloads: Workloads,
): Promise<void> {
  const token = workloads.repeated.tokens.tokens[0]!;
  await expectStatus(stack.upstream.url + PATH, token, 200, 'upstream');
  await expectStatus(stack.bare.url + PATH, token, 200, 'bare proxy');
  await expectStatus(
    stack.gateway.url + PATH,
    token,
    200,
    'stepgate with a valid token',
  );
  for (const [i, denied] of workloads.deny.tokens.tokens
    .slice(0, 10)
    .entries()) {
    await expectStatus(
      stack.gateway.url + PATH,
      denied,
      401,
      `stepgate with deny token ${i}`,
    );
  }
  if (stack.sfn) {
    const client = viaGateway(stack.gateway.url, SFN_PATH, token, 1);
    const ok = await client.call();
    await client.close();
    if (!ok)
      throw new Error(
        'smoke check: StartExecution through stepgate did not answer 202',
      );
  }
}

export interface LoadExtra {
  readonly connections?: number;
  readonly ratePerSec?: number;
}

export type Runner = ReturnType<typeof createRunner>;

/** Runs load and keeps each token set's rotation going from where the last run left it. */
export function createRunner(loader: Loader, stack: Stack, settings: Settings) {
  const offsets = new Map<string, number>();
  const serverOf = (target: TargetName): ServerProcess =>
    target === 'direct'
      ? stack.upstream
      : target === 'bare'
        ? stack.bare
        : stack.gateway;

  async function once(
    target: TargetName,
    workload: Workload,
    durationSec: number,
    extra: LoadExtra = {},
  ): Promise<LoadResult> {
    const connections = extra.connections ?? settings.connections;
    const { name, tokens } = workload.tokens;
    const offset = offsets.get(name) ?? 0;
    const result = await loader.run({
      url: serverOf(target).url + PATH,
      connections,
      durationSec,
      tokens: workload.tokens,
      offset,
      ratePerSec: extra.ratePerSec,
    });
    // Requests in flight when the run stopped used tokens too: skip one per connection.
    offsets.set(name, (offset + result.requests + connections) % tokens.length);
    return result;
  }

  /** A discarded warm-up, then the measured run; RSS read as the run ends. */
  async function measure(
    target: TargetName,
    workload: Workload,
    extra: LoadExtra = {},
  ): Promise<Measurement> {
    await once(target, workload, settings.warmupSec, extra);
    const result = await once(target, workload, settings.durationSec, extra);
    const expects401 = target === 'stepgate' && workload.stepgateStatus === 401;
    return {
      rps: result.rps,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      rssMb: serverOf(target).rssMb(),
      unexpected:
        (expects401 ? result.requests - result.non2xx : result.non2xx) +
        result.errors,
    };
  }

  /**
   * Sends every token of `workload` once to `target`, 64 at a time: the verified-token cache then
   * holds what fits in it before anything is measured, however slow the machine is today.
   */
  async function prime(target: TargetName, workload: Workload): Promise<void> {
    const url = serverOf(target).url + PATH;
    const dispatcher = new Agent({ connections: 64 });
    const queue = [...workload.tokens.tokens];
    const worker = async () => {
      for (let token = queue.pop(); token !== undefined; token = queue.pop()) {
        const headers = token ? { authorization: `Bearer ${token}` } : {};
        const res = await request(url, { headers, dispatcher });
        await res.body.dump();
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    await dispatcher.close();
  }

  return { once, measure, prime, serverOf };
}

/** The order of `items` rotated by `by`: each server gets each slot across rounds. */
export const rotate = <T>(items: readonly T[], by: number): T[] =>
  items.map((_, i) => items[(i + by) % items.length]!);
