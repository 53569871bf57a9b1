/**
 * The one fixture for integration tests: starts what a test file asks for (a token issuer, an
 * upstream, the local Step Functions endpoint) on port 0, builds the gateway in front of them,
 * waits until it is ready, and closes everything in an `after` hook of the suite it is called in.
 *
 *   const stack = withGateway({
 *     upstream: true,
 *     config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
 *   });
 *   it('…', async () => { await fetch(`${stack.gateway.url}/api/orders/1`, …) });
 *
 * Call it at the top of a file or of a `describe`; the handles are there from its `before` on.
 */
import type { RequestListener } from 'node:http';
import { after, before } from 'node:test';
import type { GatewayDeps } from '../../src/app.ts';
import type { LocalStepFunctionsOptions } from '../../src/dev/stepfunctions/server.ts';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from './gateway.ts';
import { listen, startIssuer, type TestIssuer } from './issuer.ts';
import { startTestStepFunctions, type TestStepFunctions, useTestAwsCredentials } from './stepfunctions.ts';

/** The servers a config is written against. Reading one that was not asked for throws. */
export interface Servers {
  readonly issuer: TestIssuer;
  /** The echo upstream (`upstream: true`). */
  readonly upstream: EchoUpstream;
  /** The upstream's base URL, for `upstream: true` or a handler. */
  readonly upstreamUrl: string;
  readonly sfn: TestStepFunctions;
}

type GatewayOptions = Omit<GatewayDeps, 'auditStdout' | 'logStream'>;

export interface WithGatewayOptions {
  /** A test issuer (default) or `false` for none; options as `startIssuer` takes them. */
  readonly issuer?: boolean | Parameters<typeof startIssuer>[0];
  /** `true` for the echo upstream (src/dev/upstream.ts), or a request handler of the test's own. */
  readonly upstream?: boolean | RequestListener;
  /** The local Step Functions endpoint (and the test AWS credentials in the environment). */
  readonly sfn?: boolean | Partial<LocalStepFunctionsOptions>;
  /** The gateway's config document (as YAML would parse it), given the servers started. */
  readonly config: (servers: Servers) => Record<string, unknown>;
  readonly deps?: GatewayOptions | ((servers: Servers) => GatewayOptions);
  /** Wait for `/readyz` (every issuer's keys in) before the tests run; default true. */
  readonly ready?: boolean;
  /**
   * What else the file needs once the gateway is up (tokens, more gateways). A file's own
   * top-level `before` would not wait for this fixture's: Node runs hooks added to a running
   * root test at once.
   */
  readonly setup?: (stack: GatewayStack) => Promise<void> | void;
}

export interface GatewayStack extends Servers {
  readonly gateway: TestGateway;
  /** Another gateway in front of the same servers, waited ready, closed with the rest. */
  startGateway(document: Record<string, unknown>, deps?: GatewayOptions): Promise<TestGateway>;
}

export function withGateway(options: WithGatewayOptions): GatewayStack {
  let issuer: TestIssuer | undefined;
  let upstream: EchoUpstream | undefined;
  let upstreamUrl: string | undefined;
  let sfn: TestStepFunctions | undefined;
  let gateway: TestGateway | undefined;
  const closers: (() => Promise<void>)[] = [];
  const ready = options.ready ?? true;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`withGateway: no ${what} (not asked for, or read before its before hook)`);
    return value;
  };

  const stack: GatewayStack = {
    get issuer() {
      return need(issuer, 'issuer');
    },
    get upstream() {
      return need(upstream, 'echo upstream');
    },
    get upstreamUrl() {
      return need(upstreamUrl, 'upstream');
    },
    get sfn() {
      return need(sfn, 'Step Functions endpoint');
    },
    get gateway() {
      return need(gateway, 'gateway');
    },
    async startGateway(document, deps = {}) {
      const started = await startGateway(document, deps);
      closers.push(() => started.close());
      if (ready) await waitReady(started);
      return started;
    },
  };

  before(async () => {
    const own = <T extends { close(): Promise<void> }>(server: T): T => {
      closers.push(() => server.close());
      return server;
    };
    if (options.issuer !== false) issuer = own(await startIssuer(options.issuer === true ? {} : options.issuer));
    if (options.upstream === true) {
      upstream = own(await startEchoUpstream());
      upstreamUrl = upstream.url;
    } else if (typeof options.upstream === 'function') {
      upstreamUrl = `http://127.0.0.1:${own(await listen(options.upstream)).port}`;
    }
    if (options.sfn) {
      useTestAwsCredentials();
      sfn = own(await startTestStepFunctions(options.sfn === true ? {} : options.sfn));
    }
    const deps = typeof options.deps === 'function' ? options.deps(stack) : options.deps;
    gateway = await stack.startGateway(options.config(stack), deps);
    await options.setup?.(stack);
  });

  // Gateways first (they hold connections to the servers), then the servers.
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  return stack;
}
