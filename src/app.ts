/**
 * `buildGateway(config)`: the composition root. It creates what lives as long as the process —
 * metrics, the audit log, the upstream connection pool, SSO, the live runtime (runtime/) — and
 * wires the public app, the admin app and the decision listener in the order a request travels:
 * normalize → route → authenticate → authorize → forward → audit → metrics.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'undici';
import type { FastifyInstance } from 'fastify';
import { type AuditLog, createAuditLog } from './audit/audit-log.ts';
import { createPeerMatcher } from './config/peers.ts';
import type { Config } from './config/schema.ts';
import { buildDecisionApp } from './decision-app.ts';
import { createHttpApp } from './http-app.ts';
import { ProviderError } from './identity/provider-fetch.ts';
import { createProviderMonitor } from './identity/provider-monitor.ts';
import { createBrowserSso } from './identity/sessions/index.ts';
import { type BearerVerifier, createBearerVerifier } from './identity/verify-bearer.ts';
import { createLogDestination } from './logger.ts';
import { createMetrics, type GatewayMetrics } from './metrics/metrics.ts';
import { type AuditPluginOptions, createAccounting } from './plugins/audit.ts';
import { createSocketRefusals } from './plugins/errors.ts';
import { type PipelineOptions, registerPipeline } from './plugins/pipeline.ts';
import { createPathNormalizer } from './plugins/request-context.ts';
import { buildAdminApp } from './routes/admin.ts';
import forwardRoutes from './routes/forward.ts';
import { type Clock, createWebSockets, systemClock } from './routes/websocket.ts';
import ssoRoutes from './routes/sso.ts';
import type { ExecutionsSource } from './routes/sso-page.ts';
import wellKnownRoutes from './routes/well-known.ts';
import { createLiveRuntime } from './runtime/live-runtime.ts';
import { keepServerTls, type SecureContextTarget, type ServerTls } from './runtime/server-tls.ts';
import { readServerKeyPair } from './config/tls-files.ts';

export interface GatewayDeps {
  /** Where the `stdout` audit sink writes (tests capture it). */
  readonly auditStdout?: NodeJS.WritableStream;
  /** Where the pino logger writes; default `logging.destination` (stderr). */
  readonly logStream?: NodeJS.WritableStream;
  /** The recent executions `/.stepgate/` lists for a caller (browser SSO). */
  readonly executions?: ExecutionsSource;
  /**
   * The clock (ms since the epoch) that token expiry, key cooldowns, sessions and in-memory rate
   * limits are judged by; `Date.now` by default. Tests advance a fake one instead of sleeping.
   */
  readonly now?: () => number;
  /**
   * Timers that close WebSockets for an expired token or an ended session (tests move them); its
   * `now` is the gateway's clock when `now` is not given, and `now` times the WebSockets when given.
   * The system clock by default.
   */
  readonly clock?: Clock;
}

export interface GatewayParts {
  readonly admin: FastifyInstance;
  /** The decision listener's app, when `decision` is configured (not yet listening). */
  decision?: FastifyInstance;
  readonly audit: AuditLog;
  /** The live bearer verifier (replaced by a reload that changes `issuers`). */
  readonly verifier: BearerVerifier;
  readonly metrics: GatewayMetrics;
  /** The public listener's certificate (`server.tls`), re-read when its files change. */
  tls?: ServerTls;
  /** The config requests are served with now. */
  readonly config: Config;
  /**
   * Swaps in `config` whole, or throws (`ConfigError`) and keeps the old one (runtime/).
   * Counted in `stepgate_config_reloads_total{result}`.
   */
  reload(config: Config): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    stepgate: GatewayParts;
  }
}

/** The authorities (host[:port]) an absolute-form request target may name: only our own. */
function ourAuthorities(config: Config): Set<string> {
  const out = new Set<string>();
  if (config.server.publicUrl) out.add(new URL(config.server.publicUrl).host.toLowerCase());
  return out;
}

export async function buildGateway(config: Config, deps: GatewayDeps = {}): Promise<FastifyInstance> {
  // One clock: what judges a token's `exp` is also what times the close of its WebSocket.
  const timers = deps.clock ?? systemClock;
  const now = deps.now ?? (() => timers.now());
  const clock: Clock = { now, setTimeout: (fn, ms) => timers.setTimeout(fn, ms) };
  // A file that went bad since the config was checked stops the start (ConfigError).
  const keyPair = config.server.tls ? readServerKeyPair(config.server.tls) : undefined;
  const metrics = createMetrics();
  const audit = createAuditLog(config.audit, {
    ...(deps.auditStdout ? { stdout: deps.auditStdout } : {}),
    onRecord: (sink, result) => metrics.auditRecords.inc({ sink, result }),
  });
  // One key for the process: a reload's new verifier fingerprints tokens like the old one.
  const fingerprintKey = config.audit.fingerprintKey ?? randomBytes(32);
  // Logs every provider failure per issuer (rate-limited) and each recovery once.
  const providers = createProviderMonitor({ log: () => app.log, now });
  // One pool of upstream connections for every HTTP target, kept across reloads. undici checks
  // upstream certificates by default; it is said here so that no option ever turns it off.
  const dispatcher = new Agent({
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: { rejectUnauthorized: true },
  });
  const live = await createLiveRuntime(config, {
    metrics,
    dispatcher,
    isTrustedPeer: createPeerMatcher(config.server.trustProxy),
    now,
    createVerifier: (issuers) =>
      createBearerVerifier(issuers, {
        fingerprintKey,
        now,
        redis: config.redis,
        onIntrospectionError: (issuer, error) => providers.failed(issuer, error),
        onJwksRefresh: (issuer, result, error) => {
          metrics.jwksRefresh.inc({ issuer, result });
          if (error instanceof ProviderError) providers.failed(issuer, error);
          else if (result === 'ok') providers.succeeded(issuer);
        },
      }),
    log: () => app.log,
  });
  // SSO is built once; it verifies session tokens with whichever verifier is live.
  const sso = config.sso
    ? createBrowserSso(config, {
        verifier: { verify: (token, issuers) => live.current.verifier.verify(token, issuers) },
        monitor: providers,
        now,
      })
    : undefined;

  const auditOptions: AuditPluginOptions = { audit, metrics, live };
  const accounting = createAccounting(auditOptions);
  const normalizer = createPathNormalizer(ourAuthorities(config));
  const logDestination = createLogDestination(config.logging, deps.logStream);
  const app = createHttpApp({
    server: config.server,
    logLevel: config.logging.level,
    logStream: logDestination,
    trustProxy: config.server.trustProxy,
    rewriteUrl: (req) => normalizer.rewriteUrl(req),
    refusals: createSocketRefusals((err, socket) => accounting.clientError(err, socket)),
    tls: keyPair,
    upgrades: true,
  });

  const admin = buildAdminApp({ metrics, verifier: () => live.current.verifier, audit });
  const parts: GatewayParts = {
    admin,
    audit,
    metrics,
    get verifier() {
      return live.current.verifier;
    },
    get config() {
      return live.current.config;
    },
    reload: (next) => live.reload(next),
  };
  if (config.server.tls && keyPair) {
    // The server is runtime/server-tls.ts's HTTP/2 server, typed as the HTTP/1 one Fastify holds.
    const server = app.server as unknown as SecureContextTarget;
    parts.tls = keepServerTls(config.server.tls, keyPair, server, () => app.log);
  }
  app.decorate('stepgate', parts);

  // Bodies are kept as bytes up to bodyLimitBytes and forwarded as received: the limit is
  // enforced (413) before anything reaches a target, also for chunked bodies.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const pipeline: PipelineOptions = {
    live,
    prepare: (request) => ({ target: normalizer.resultFor(request) }),
    audit,
    accounting,
    sso,
  };
  await registerPipeline(app, pipeline);
  await app.register(wellKnownRoutes);
  if (sso && config.sso) {
    const { sessionTtlSeconds, sessionIdleSeconds } = config.sso;
    await app.register(ssoRoutes, { sso, sessionTtlSeconds, sessionIdleSeconds, executions: deps.executions });
  }
  const websockets = createWebSockets({ accounting, sso, clock });
  await app.register(forwardRoutes, { accounting, websockets });
  // Decision mode: the same pipeline on its own listener, answering instead of forwarding.
  if (config.decision) {
    parts.decision = await buildDecisionApp(config, config.decision, {
      pipeline,
      audit: auditOptions,
      logStream: logDestination,
    });
  }

  // Open WebSockets hold the server open: each is closed (1001) and its close record written first.
  app.addHook('preClose', () => websockets.closeAll());
  app.addHook('onClose', async () => {
    parts.tls?.close();
    await admin.close();
    await parts.decision?.close();
    await live.close();
    await sso?.close();
    await dispatcher.destroy();
    await audit.close();
  });
  // Fetch every issuer's keys now; /readyz reports when they are in.
  void live.current.verifier.warm();
  return app;
}
