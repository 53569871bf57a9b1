/**
 * `stepgate demo` (`npm start`): the embedded IdP, the echo upstream, the local Step Functions
 * endpoint, the local argo-server and the gateway, wired by config/demo.yaml, and a banner of
 * curl lines that work as printed in a POSIX shell. The config is the one source of the
 * addresses: everything listens where it says.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { GatewayDeps } from '../app.ts';
import { type RunningGateway, startGateway } from '../commands/serve.ts';
import { type Env, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { LocalArgo } from './argo/server.ts';
import { listening, startArgo, startStepFunctions } from './demo-services.ts';
import { type EmbeddedIdp, type IdpClient, type IdpUser, startEmbeddedIdp } from './idp.ts';
import type { LocalStepFunctions } from './stepfunctions/server.ts';
import { type EchoUpstream, startEchoUpstream } from './upstream.ts';

const PACKAGE_ROOT = join(import.meta.dirname, '..', '..');
export const DEMO_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'demo.yaml');

export const DEMO_CLIENTS: readonly IdpClient[] = [
  {
    clientId: 'ci-bot',
    clientSecret: 'ci-bot-secret',
    scope: 'orders:read orders:write deploy:start',
    realmRoles: ['deployer'],
    groups: ['platform'],
    email: 'ci-bot@example.com',
  },
  {
    clientId: 'reader',
    clientSecret: 'reader-secret',
    scope: 'orders:read',
    realmRoles: ['viewer'],
    groups: ['support'],
    email: 'reader@example.com',
  },
];

/** Who can log in through a browser (`/.stepgate/`), on the IdP's own login page. */
export const DEMO_USERS: readonly IdpUser[] = [
  {
    username: 'alice',
    password: 'alice-demo-password',
    name: 'Alice',
    email: 'alice@example.com',
    realmRoles: ['developer'],
    groups: ['engineering'],
    scope: 'orders:read orders:write',
  },
];

/** The browser client of config/demo.yaml's `sso` section, registered at the embedded IdP. */
function browserClient(config: Config): IdpClient[] {
  const { sso, server } = config;
  if (!sso || !server.publicUrl) return [];
  const origin = new URL(server.publicUrl).origin;
  return [
    {
      clientId: sso.clientId,
      clientSecret: sso.clientSecret ?? '',
      scope: 'orders:read orders:write',
      redirectUris: [`${origin}/.stepgate/callback`],
      postLogoutRedirectUris: [`${origin}/.stepgate/logged-out`],
    },
  ];
}

export interface DemoOptions {
  /** Reads config/demo.yaml's `${VAR}`s (ports, audit file); default `process.env`. */
  readonly env?: Env;
  /** The directory the printed commands are for; default where npm was started, else the cwd. */
  readonly cwd?: string;
  /** Passed to the gateway (tests capture its audit and log output). */
  readonly gatewayDeps?: GatewayDeps;
  /** The local argo-server's clock (tests move it); default `Date.now`. */
  readonly argoClock?: () => number;
}

/** The printed shell commands, each exactly as it appears in the banner. */
export interface DemoCommands {
  readonly token: string;
  readonly allowed: string;
  readonly refused: string;
  readonly unauthenticated: string;
  readonly metrics: string;
  readonly auditVerify: string;
  /** The deploy workflow: printed when config/demo.yaml has the `deploy` target. */
  readonly deployToken: string;
  readonly deployStart: string;
  readonly deployAgain: string;
  readonly deployStatus: string;
  /** The Argo deploy: printed when config/demo.yaml has the `deploy-argo` target. */
  readonly argoStart: string;
  readonly argoAgain: string;
  readonly argoStatus: string;
}

export interface RunningDemo {
  readonly config: Config;
  readonly idp: EmbeddedIdp;
  readonly upstream: EchoUpstream;
  /** The local Step Functions endpoint, when the config has a `deploy` target with an endpoint. */
  readonly stepFunctions: LocalStepFunctions | undefined;
  /** The local argo-server, when the config has a `deploy-argo` target on loopback. */
  readonly argo: LocalArgo | undefined;
  readonly gateway: RunningGateway;
  /** The audit file the gateway appends to (absolute). */
  readonly auditFile: string;
  readonly commands: DemoCommands;
  /** What `runDemo` prints. */
  readonly banner: string;
  /** Stops the gateway (in-flight requests finish, the audit log is flushed), then the rest. */
  stop(): Promise<void>;
}

/** Single-quotes a word for a POSIX shell when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", '\'\\\'\'')}'`;
}

/** A path as the user should type it from `base`: relative when inside it, else absolute. */
function displayPath(path: string, base: string): string {
  const rel = relative(base, path);
  return shellWord(rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path);
}

function demoParts(config: Config) {
  const issuer = config.issuers[0];
  const target = config.targets['orders'];
  const auditSink = config.audit.sinks.find((s) => s.type === 'file');
  if (
    !issuer ||
    (issuer.preset !== 'keycloak' && issuer.preset !== 'okta') ||
    target?.type !== 'http' ||
    !auditSink
  ) {
    throw new ConfigError([
      {
        path: '',
        message: 'the demo needs a keycloak or okta issuer, an http target "orders" and a file audit sink',
      },
    ]);
  }
  return {
    issuer,
    preset: issuer.preset,
    issuerUrl: new URL(issuer.issuer),
    targetUrl: new URL(target.url),
    auditSink,
  };
}

function describeCommands(demo: {
  idp: EmbeddedIdp;
  gateway: RunningGateway;
  auditFile: string;
  cwd: string;
}): DemoCommands {
  const { idp, gateway } = demo;
  const orders = `${gateway.url}/api/orders/42`;
  const bin = join(PACKAGE_ROOT, 'bin', 'stepgate.js');
  return {
    token:
      'TOKEN=$(curl -s -u reader:reader-secret -d grant_type=client_credentials -d scope=orders:read ' +
      `${idp.tokenEndpoint} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    allowed: `curl -i -H "Authorization: Bearer $TOKEN" ${orders}`,
    refused: `curl -i -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"quantity":1}' ${orders}`,
    unauthenticated: `curl -i ${orders}`,
    metrics: `curl -s ${gateway.adminUrl}/metrics | grep stepgate_requests_total`,
    auditVerify: `node ${displayPath(bin, demo.cwd)} audit verify ${displayPath(demo.auditFile, demo.cwd)}`,
    ...deployCommands(idp, gateway),
    ...argoCommands(gateway),
  };
}

/** Start an Argo workflow, repeat it (the same workflow: Idempotency-Key), read its phase. */
function argoCommands(gateway: RunningGateway) {
  const start =
    'curl -s -H "Authorization: Bearer $DEPLOY_TOKEN" -H \'Content-Type: application/json\' ' +
    `-H 'Idempotency-Key: orders-1.4.2' -d '{"service":"orders","version":"1.4.2"}' ${gateway.url}/argo/deploy`;
  return {
    argoStart: start.replace('curl -s ', 'curl -i '),
    argoAgain: `WF_URL=$(${start} | sed -E 's/.*"statusUrl":"([^"]+)".*/\\1/'); echo "$WF_URL"`,
    argoStatus: 'curl -s -H "Authorization: Bearer $DEPLOY_TOKEN" "$WF_URL"',
  };
}

/** Start a deployment, repeat it (the same execution: Idempotency-Key), read its status. */
function deployCommands(idp: EmbeddedIdp, gateway: RunningGateway) {
  const start =
    'curl -s -H "Authorization: Bearer $DEPLOY_TOKEN" -H \'Content-Type: application/json\' ' +
    `-H 'Idempotency-Key: orders-1.4.2' -d '{"service":"orders","version":"1.4.2"}' ${gateway.url}/workflows/deploy`;
  return {
    deployToken:
      'DEPLOY_TOKEN=$(curl -s -u ci-bot:ci-bot-secret -d grant_type=client_credentials -d scope=deploy:start ' +
      `${idp.tokenEndpoint} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    deployStart: start.replace('curl -s ', 'curl -i '),
    deployAgain: `STATUS_URL=$(${start} | sed -E 's/.*"statusUrl":"([^"]+)".*/\\1/'); echo "$STATUS_URL"`,
    deployStatus: 'curl -s -H "Authorization: Bearer $DEPLOY_TOKEN" "$STATUS_URL"',
  };
}

function stepFunctionsLine(sfn: LocalStepFunctions | undefined): string {
  return sfn
    ? `  stepfns   ${sfn.url}   (local Step Functions: SigV4-checked, state machine "deploy")\n`
    : '';
}

function argoLine(argo: LocalArgo | undefined): string {
  return argo ? `  argo      ${argo.url}   (local argo-server: WorkflowTemplate demo/deploy)\n` : '';
}

/** Steps 7 on: the deployments, numbered in the order they are printed. */
function deployBanner(demo: {
  commands: DemoCommands;
  stepFunctions: LocalStepFunctions | undefined;
  argo: LocalArgo | undefined;
}): string {
  const { commands } = demo;
  const steps: [string, string][] = [];
  if (demo.stepFunctions || demo.argo) {
    steps.push(['a token for "ci-bot", which may start deployments', commands.deployToken]);
  }
  if (demo.stepFunctions) {
    steps.push(
      ['start a deployment (202): the execution is named for ci-bot and the Idempotency-Key', commands.deployStart],
      ['the same request again: the same execution, not a second one; keep its statusUrl', commands.deployAgain],
      ['its status, readable by ci-bot only: RUNNING for a few seconds, then SUCCEEDED', commands.deployStatus],
    );
  }
  if (demo.argo) {
    steps.push(
      ['start an Argo workflow (202) from the WorkflowTemplate, labelled with ci-bot', commands.argoStart],
      ['the same request again: the same workflow, not a second one; keep its statusUrl', commands.argoAgain],
      ['its phase, readable by ci-bot only: Pending, Running, then Succeeded with outputs', commands.argoStatus],
    );
  }
  return steps.map(([what, command], i) => `  # ${i + 7}. ${what}\n  ${command}\n`).join('');
}

/** The browser login, when config/demo.yaml has `sso`: a URL and a user that logs in. */
function browserLine(config: Config): string {
  const user = DEMO_USERS[0];
  if (!config.sso || !config.server.publicUrl || !user) return '';
  const page = `${new URL(config.server.publicUrl).origin}/.stepgate/`;
  return `  browser   ${page}   (sign in as ${user.username} / ${user.password})\n`;
}

function renderBanner(demo: Omit<RunningDemo, 'banner' | 'stop'>, cwd: string): string {
  const { idp, gateway, upstream, commands } = demo;
  const clients = DEMO_CLIENTS.map((c) => `${c.clientId}/${c.clientSecret} (${c.scope})`).join(', ');
  return `
stepgate demo is running
  gateway   ${gateway.url}   (metrics and health: ${gateway.adminUrl})
  IdP       ${idp.issuer}   (Keycloak-shaped; clients ${clients})
${browserLine(demo.config)}  upstream  ${upstream.url}   (answers with the request it received)
${stepFunctionsLine(demo.stepFunctions)}${argoLine(demo.argo)}  audit     stdout and ${displayPath(demo.auditFile, cwd)}

Try it in a POSIX shell, from this directory:
  # 1. a client-credentials token for "reader", who may only read
  ${commands.token}
  # 2. allowed (200): the upstream's echo shows the X-Stepgate-* identity headers
  ${commands.allowed}
  # 3. refused (403 insufficient_scope): reader may not write
  ${commands.refused}
  # 4. no token (401)
  ${commands.unauthenticated}
  # 5. what the gateway counted
  ${commands.metrics}
  # 6. the audit log's hash chain is intact
  ${commands.auditVerify}
${deployBanner(demo)}
Ctrl-C stops everything.
`;
}

/** Starts the IdP, the upstream and the gateway of config/demo.yaml; prints nothing. */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const cwd = options.cwd ?? process.env['INIT_CWD'] ?? process.cwd();
  // The audit file belongs next to the package (.stepgate-demo/ is gitignored), wherever it runs.
  const env: Env = {
    STEPGATE_DEMO_AUDIT_FILE: join(PACKAGE_ROOT, '.stepgate-demo', 'audit.jsonl'),
    STEPGATE_DEMO_ARGO_TOKEN_FILE: join(PACKAGE_ROOT, '.stepgate-demo', 'argo-token'),
    ...(options.env ?? process.env),
  };
  const config = loadConfigFile(DEMO_CONFIG_FILE, env);
  const { issuer, preset, issuerUrl, targetUrl, auditSink } = demoParts(config);
  const started: { close(): Promise<void> }[] = [];
  try {
    const idp = await listening(
      () =>
        startEmbeddedIdp({
          preset,
          clients: [...DEMO_CLIENTS, ...browserClient(config)],
          users: DEMO_USERS,
          host: issuerUrl.hostname,
          port: Number(issuerUrl.port || 80),
          path: issuerUrl.pathname,
          audience: issuer.audiences[0]!,
        }),
      'issuers[0].issuer',
      `${issuerUrl.host} (the embedded IdP)`,
      'STEPGATE_DEMO_IDP_PORT',
    );
    started.push(idp);
    if (idp.issuer !== issuer.issuer)
      throw new Error(`the IdP is ${idp.issuer}, the config trusts ${issuer.issuer}`);
    const upstream = await listening(
      () => startEchoUpstream({ host: targetUrl.hostname, port: Number(targetUrl.port || 80) }),
      'targets.orders.url',
      `${targetUrl.host} (the demo upstream)`,
      'STEPGATE_DEMO_UPSTREAM_PORT',
    );
    started.push(upstream);
    const stepFunctions = await startStepFunctions(config);
    if (stepFunctions) started.push(stepFunctions);
    const argo = await startArgo(config, options.argoClock);
    if (argo) started.push(argo);
    const gateway = await listening(
      () => startGateway(config, options.gatewayDeps),
      'server.port',
      `${config.server.host}:${config.server.port} or ${config.admin.host}:${config.admin.port} (the gateway)`,
      'STEPGATE_DEMO_PORT / STEPGATE_DEMO_ADMIN_PORT',
    );
    const auditFile = resolve(auditSink.path);
    const parts = { config, idp, upstream, stepFunctions, argo, gateway, auditFile };
    const commands = describeCommands({ ...parts, cwd });
    let stopping: Promise<void> | undefined;
    return {
      ...parts,
      commands,
      banner: renderBanner({ ...parts, commands }, cwd),
      stop() {
        stopping ??= gateway
          .stop()
          .finally(() => Promise.all([upstream.close(), idp.close(), stepFunctions?.close(), argo?.close()]));
        return stopping;
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
}

/** `stepgate demo`: starts the demo, prints the banner, and stops cleanly on SIGINT/SIGTERM. */
export async function runDemo(
  options: DemoOptions & { readonly out?: NodeJS.WritableStream } = {},
): Promise<RunningDemo> {
  const demo = await startDemo(options);
  (options.out ?? process.stdout).write(demo.banner);
  const shutdown = (): void => {
    demo.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stepgate demo: stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return demo;
}
