/**
 * The local argo-server (src/dev/argo) with the templates tests use, a token file for the
 * gateway's service account, a clock tests move, and a gateway config in front of it:
 *
 *   const argo = await startTestArgo();
 *   const gateway = await startGateway(argoConfig(issuer, argo));
 *   POST /argo/deploy, /argo/deploy-again (WorkflowTemplate ci/deploy) · POST /argo/cluster
 *   (ClusterWorkflowTemplate release) · GET /argo/workflows/:name (readAnyExecution: acme/audit)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LocalArgo,
  type LocalArgoOptions,
  type LocalTemplate,
  startLocalArgo,
} from '../../src/dev/argo/server.ts';
import { startGateway, type TestGateway, waitReady } from './gateway.ts';
import { startIssuer, type TestIssuer } from './issuer.ts';

export const ARGO_NAMESPACE = 'ci';
export const ARGO_SERVICE_ACCOUNT = 'argo/stepgate';

/** deploy: version required, environment one of two; its run reports who released what. */
export const DEPLOY_TEMPLATE: LocalTemplate = {
  namespace: ARGO_NAMESPACE,
  name: 'deploy',
  entrypoint: 'main',
  templates: ['main', 'rollback'],
  parameters: [
    { name: 'stepgate-caller' },
    { name: 'service', value: 'app' },
    { name: 'version' },
    { name: 'environment', value: 'staging', enum: ['staging', 'production'] },
  ],
  run: (p) => {
    const caller = (JSON.parse(p['stepgate-caller'] ?? '{}') as { caller?: { sub?: string } }).caller;
    if (p['version'] === 'broken') return { fail: 'the deployment failed its checks' };
    return { outputs: { releasedBy: caller?.sub ?? '', artifact: `registry.local/${p['service']}:${p['version']}` } };
  },
};

/** release: a ClusterWorkflowTemplate that takes only the envelope. */
export const RELEASE_TEMPLATE: LocalTemplate = {
  kind: 'ClusterWorkflowTemplate',
  name: 'release',
  parameters: [{ name: 'stepgate-caller' }],
};

export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

export interface TestArgo extends LocalArgo {
  readonly clock: TestClock;
  /** The file the gateway reads its token from. */
  readonly tokenFile: string;
  readonly token: string;
  /** A new token: argo-server accepts only it, and the file is replaced (renamed over, as a Secret update). */
  rotateToken(): string;
  /** Submissions argo-server accepted (created a workflow for). */
  submissions(): { body: Record<string, unknown>; serviceAccount: string | undefined }[];
}

export async function startTestArgo(options: Partial<LocalArgoOptions> = {}): Promise<TestArgo> {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-argo-'));
  const tokenFile = join(dir, 'token');
  let now = Date.now();
  const clock: TestClock = {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
  const newToken = () => `sa-token-${randomBytes(12).toString('hex')}`;
  let token = newToken();
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const argo = await startLocalArgo({
    serviceAccounts: [{ token, name: ARGO_SERVICE_ACCOUNT }],
    templates: [DEPLOY_TEMPLATE, RELEASE_TEMPLATE],
    clock: clock.now,
    pendingMs: 1000,
    runningMs: 5000,
    ...options,
  });
  return {
    ...argo,
    clock,
    tokenFile,
    get token() {
      return token;
    },
    rotateToken() {
      token = newToken();
      argo.setServiceAccounts([{ token, name: ARGO_SERVICE_ACCOUNT }]);
      writeFileSync(`${tokenFile}.new`, token, { mode: 0o600 });
      renameSync(`${tokenFile}.new`, tokenFile);
      return token;
    },
    submissions: () =>
      argo.calls
        .filter((c) => c.operation === 'submit' && c.status === 200)
        .map((c) => ({ body: c.body as Record<string, unknown>, serviceAccount: c.serviceAccount })),
    async close() {
      await argo.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ArgoConfigOptions {
  readonly deploy?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
}

/** The gateway config in front of `argo`, trusting `github` (GitHub Actions) and `ops` (generic) tokens. */
export function argoConfig(
  github: TestIssuer,
  ops: TestIssuer,
  argo: TestArgo,
  options: ArgoConfigOptions = {},
): Record<string, unknown> {
  const target = (fields: Record<string, unknown>) => ({
    type: 'argo',
    server: argo.url,
    namespace: ARGO_NAMESPACE,
    tokenFile: argo.tokenFile,
    timeoutMs: 2000,
    ...fields,
  });
  const fromMain = { claims: { repository: 'acme/*', ref: 'refs/heads/main' } };
  return {
    issuers: [
      { name: 'github', issuer: github.issuer, audiences: ['stepgate'], jwksUri: github.jwksUri, preset: 'github-actions' },
      { name: 'ops', issuer: ops.issuer, audiences: ['stepgate'], jwksUri: ops.jwksUri },
    ],
    targets: {
      deploy: target({
        templateRef: { kind: 'WorkflowTemplate', name: 'deploy' },
        parameters: ['service', 'version', 'environment'],
        ...options.deploy,
      }),
      release: target({ templateRef: { kind: 'ClusterWorkflowTemplate', name: 'release' } }),
    },
    routes: [
      { name: 'deploy', path: '/argo/deploy', methods: ['POST'], target: 'deploy', allow: fromMain },
      { name: 'deploy-again', path: '/argo/deploy-again', methods: ['POST'], target: 'deploy', allow: fromMain },
      { name: 'release', path: '/argo/release', methods: ['POST'], target: 'release', allow: fromMain },
      {
        name: 'workflows',
        path: '/argo/workflows/:name',
        methods: ['GET', 'HEAD'],
        target: 'deploy',
        allow: { anyOf: [{ claims: { repository: 'acme/*' } }, { scopes: ['workflows:read'] }] },
        readAnyExecution: { claims: { repository: 'acme/audit' } },
      },
      {
        name: 'releases',
        path: '/argo/releases/*',
        methods: ['GET'],
        target: 'release',
        allow: fromMain,
      },
    ],
    audit: { claims: ['repository', 'ref', 'workflow'] },
    ...options.extra,
  };
}

export interface ArgoStack {
  /** GitHub Actions-shaped tokens (`github`, preset github-actions). */
  readonly github: TestIssuer;
  /** Generic tokens (`ops`). */
  readonly ops: TestIssuer;
  readonly argo: TestArgo;
  /** The gateway on `argoConfig(github, ops, argo, options)`, ready. */
  readonly gateway: TestGateway;
  close(): Promise<void>;
}

/** Two issuers, the local argo-server and a gateway in front of it: one fixture per test file. */
export async function startArgoStack(options: ArgoConfigOptions = {}): Promise<ArgoStack> {
  const [github, ops, argo] = await Promise.all([startIssuer(), startIssuer(), startTestArgo()]);
  const gateway = await startGateway(argoConfig(github, ops, argo, options));
  await waitReady(gateway);
  return {
    github,
    ops,
    argo,
    gateway,
    async close() {
      await gateway.close();
      await Promise.all([argo.close(), github.close(), ops.close()]);
    },
  };
}
