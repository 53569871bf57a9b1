/**
 * `buildGateway(config)`: the public app and its admin app, wired in the order a request
 * travels — normalize → route → authenticate → authorize → forward → audit → metrics.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Agent } from 'undici';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AuditLog, createAuditLog } from './audit/audit-log.ts';
import { createPeerMatcher } from './config/peers.ts';
import { buildDecisionApp } from './decision-app.ts';
import { createHttpApp } from './http-app.ts';
import { loadAssertionKeys } from './config/assertion-keys.ts';
import type { Config } from './config/schema.ts';
import { ConfigError } from './errors.ts';
import { createLogDestination } from './logger.ts';
import { restartOnlyChanges } from './config/reload-check.ts';
import { ProviderError } from './identity/provider-fetch.ts';
import { createProviderMonitor } from './identity/provider-monitor.ts';
import { createBrowserSso } from './identity/sessions/index.ts';
import { type BearerVerifier, createBearerVerifier } from './identity/verify-bearer.ts';
import { createMetrics, type GatewayMetrics } from './metrics/metrics.ts';
import { type CompiledRouting, compileRouting } from './policy/routing.ts';
import { type AuditPluginOptions, createAccounting } from './plugins/audit.ts';
import { createClientErrorHandler } from './plugins/errors.ts';
import { type PipelineOptions, registerPipeline } from './plugins/pipeline.ts';
import { createPathNormalizer } from './plugins/request-context.ts';
import { createRateLimiterFor, type RateLimiter } from './ratelimit/limiter.ts';
import { buildAdminApp } from './routes/admin.ts';
import forwardRoutes from './routes/forward.ts';
import ssoRoutes from './routes/sso.ts';
import type { ExecutionsSource } from './routes/sso-page.ts';
import wellKnownRoutes from './routes/well-known.ts';
import { type AssertionSigner, createAssertionSigner } from './targets/assertion.ts';
import { createExecutionsSource, createTargets, type Target } from './targets/registry.ts';

export interface GatewayDeps {
  /** Where the `stdout` audit sink writes (tests capture it). */
  readonly auditStdout?: NodeJS.WritableStream;
  /** Where the pino logger writes; default `logging.destination` (stderr). */
  readonly logStream?: NodeJS.WritableStream;
  /** The recent executions `/.stepgate/` lists for a caller (browser SSO). */
  readonly executions?: ExecutionsSource;
}

export interface GatewayParts {
  readonly admin: FastifyInstance;
  /** The decision listener's app, when `decision` is configured (not yet listening). */
  decision?: FastifyInstance;
  readonly audit: AuditLog;
  /** The live bearer verifier (replaced by a reload that changes `issuers`). */
  readonly verifier: BearerVerifier;
  readonly metrics: GatewayMetrics;
  /** The config requests are served with now. */
  readonly config: Config;
  /**
   * Swaps in `config` whole, or throws (`ConfigError`) and keeps the old one: see `reload` below.
   * Counted in `stepgate_config_reloads_total{result}`.
   */
  reload(config: Config): Promise<void>;
}

/** What a request uses, replaced in one assignment by a reload. */
interface LiveState {
  readonly config: Config;
  readonly routing: CompiledRouting;
  readonly targets: ReadonlyMap<string, Target>;
  readonly verifier: BearerVerifier;
  /** Present when a route has a `rateLimit`. */
  readonly limiter: RateLimiter | undefined;
  /** Signs `X-Stepgate-Assertion` and publishes its JWKS (`assertion.keys`, else a generated key). */
  readonly signer: AssertionSigner;
}

const rateLimits = (config: Config) => config.routes.map((route) => [route.name, route.rateLimit]);

declare module 'fastify' {
  interface FastifyInstance {
    stepgate: GatewayParts;
  }
}

/** The authorities (host[:port]) an absolute-form request target may name: only our own. */
function ourAuthorities(config: Config): Set<string> {
  const out = new Set<string>();
  if (config.server.publicUrl) {
    const url = new URL(config.server.publicUrl);
    out.add(url.host.toLowerCase());
  }
  return out;
}

export async function buildGateway(config: Config, deps: GatewayDeps = {}): Promise<FastifyInstance> {
  const metrics = createMetrics();
  const audit = createAuditLog(config.audit, {
    ...(deps.auditStdout ? { stdout: deps.auditStdout } : {}),
    onRecord: (sink, result) => metrics.auditRecords.inc({ sink, result }),
  });
  // One key for the process: a reload's new verifier fingerprints tokens like the old one.
  const fingerprintKey = config.audit.fingerprintKey ?? randomBytes(32);
  // Logs every provider failure per issuer (rate-limited) and each recovery once.
  const providers = createProviderMonitor({ log: () => app.log });
  const newVerifier = (issuers: Config['issuers']) =>
    createBearerVerifier(issuers, {
      fingerprintKey,
      redis: config.redis,
      onIntrospectionError: (issuer, error) => providers.failed(issuer, error),
      onJwksRefresh: (issuer, result, error) => {
        metrics.jwksRefresh.inc({ issuer, result });
        if (error instanceof ProviderError) providers.failed(issuer, error);
        else if (result === 'ok') providers.succeeded(issuer);
      },
    });
  const publicUrl = config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`;
  // Throws ConfigError when a key file went missing or bad since the config was checked.
  const newSigner = (next: Config) => createAssertionSigner(publicUrl, { keys: loadAssertionKeys(next.assertion) });
  const isTrustedPeer = createPeerMatcher(config.server.trustProxy);
  const normalizer = createPathNormalizer(ourAuthorities(config));
  // One pool of upstream connections for every HTTP target, kept across reloads. undici checks
  // upstream certificates by default; it is said here so that no option ever turns it off.
  const dispatcher = new Agent({
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: { rejectUnauthorized: true },
  });
  const newTargets = (next: Config, routing: CompiledRouting, signer: AssertionSigner) =>
    createTargets(next.targets, {
      signer,
      metrics,
      isTrustedPeer,
      dispatcher,
      publicUrl: next.server.publicUrl ? new URL(next.server.publicUrl) : undefined,
      executions: {
        audit: { log: audit, claims: next.audit.claims, policyVersion: () => routing.version },
        routes: next.routes,
        publicUrl: next.server.publicUrl,
        redis: next.redis,
        executionsRoute: routing.executions,
      },
    });
  // Redis only when a route has a limit: a gateway without limits opens no connection for them.
  const newLimiter = (next: Config) =>
    next.routes.some((route) => route.rateLimit) ? createRateLimiterFor(next.redis) : undefined;

  const routing = compileRouting(config.routes, config.targets);
  const signer = await newSigner(config);
  let live: LiveState = {
    config,
    routing,
    targets: newTargets(config, routing, signer),
    verifier: newVerifier(config.issuers),
    limiter: newLimiter(config),
    signer,
  };
  // SSO is built once; it verifies session tokens with whichever verifier is live.
  const liveVerifier: BearerVerifier = {
    verify: (token, allowedIssuers) => live.verifier.verify(token, allowedIssuers),
    isReady: () => live.verifier.isReady(),
    issuerStatus: () => live.verifier.issuerStatus(),
    get acceptsOpaque() {
      return live.verifier.acceptsOpaque;
    },
    cacheStats: () => live.verifier.cacheStats(),
    warm: () => live.verifier.warm(),
    close: () => live.verifier.close(),
  };
  const sso = config.sso ? createBrowserSso(config, { verifier: liveVerifier, monitor: providers }) : undefined;
  // A request is served by one config from start to end: the state live at its first read is
  // pinned to it, so a reload mid-request cannot pair a route of one config with a policy of another.
  const pinned = new WeakMap<FastifyRequest, LiveState>();
  const liveFor = (request?: FastifyRequest): LiveState => {
    if (!request) return live;
    let state = pinned.get(request);
    if (!state) pinned.set(request, (state = live));
    return state;
  };

  /** Pieces a reload replaced, closed once in-flight requests had `shutdownGraceMs` to finish. */
  const retiring = new Set<() => Promise<void>>();
  const closeTargets = (targets: ReadonlyMap<string, Target>) =>
    Promise.all([...targets.values()].map((target) => target.close?.())).then(() => undefined);
  const retire = (close: () => Promise<void>) => {
    const run = async () => {
      clearTimeout(timer);
      retiring.delete(run);
      await close().catch(() => undefined);
    };
    const timer = setTimeout(run, config.server.shutdownGraceMs);
    timer.unref();
    retiring.add(run);
  };

  /**
   * Validated (`next` is a parsed config) and checked for restart-only changes first, then built
   * and swapped in one assignment. Routing and targets are always rebuilt; the verifier only when
   * `issuers` changed (otherwise its warm keys and token cache are kept), the rate limiter only
   * when a route's `rateLimit` appeared, changed or went (otherwise its counters are kept), the
   * assertion signer whenever `assertion.keys` is set (its files are read again: a rotated secret
   * takes effect) — a generated key is kept, so a reload does not change what upstreams verify.
   */
  const swap = async (next: Config): Promise<void> => {
    const current = live;
    const problems = restartOnlyChanges(current.config, next);
    if (problems.length > 0) throw new ConfigError(problems);
    const routing = compileRouting(next.routes, next.targets);
    const keepSigner = !next.assertion.keys && !current.config.assertion.keys;
    const signer = keepSigner ? current.signer : await newSigner(next);
    const targets = newTargets(next, routing, signer);
    const keepVerifier = isDeepStrictEqual(current.config.issuers, next.issuers);
    const keepLimiter = isDeepStrictEqual(rateLimits(current.config), rateLimits(next));
    let verifier: BearerVerifier | undefined;
    let limiter: RateLimiter | undefined;
    try {
      verifier = keepVerifier ? current.verifier : newVerifier(next.issuers);
      // Fetch the new issuers' keys before serving with them, so /readyz does not flap.
      if (!keepVerifier) await verifier.warm();
      limiter = keepLimiter ? current.limiter : newLimiter(next);
    } catch (err) {
      await closeTargets(targets);
      if (!keepVerifier) verifier?.close();
      throw err;
    }
    live = { config: next, routing, targets, verifier, limiter, signer };
    retire(() => closeTargets(current.targets));
    if (!keepVerifier) retire(async () => current.verifier.close());
    if (!keepLimiter && current.limiter) retire(() => current.limiter!.close());
  };
  let reloading: Promise<void> = Promise.resolve();
  const reload = (next: Config): Promise<void> => {
    // One reload at a time: each compares against the config the previous one left.
    const run = reloading.then(() => swap(next));
    reloading = run.catch(() => undefined);
    return run.then(
      () => {
        metrics.configReloads.inc({ result: 'ok' });
        app.log.info({ routes: next.routes.length, policyVersion: live.routing.version }, 'config reloaded');
      },
      (err: unknown) => {
        metrics.configReloads.inc({ result: 'error' });
        app.log.error(
          { problems: err instanceof ConfigError ? err.problems : [{ path: '', message: String(err) }] },
          'config reload refused: keeping the old config',
        );
        throw err;
      },
    );
  };

  const { server } = config;
  const auditOptions: AuditPluginOptions = {
    audit,
    auditConfig: (request?: FastifyRequest) => liveFor(request).config.audit,
    metrics,
    routing: (request?: FastifyRequest) => liveFor(request).routing,
  };
  const accounting = createAccounting(auditOptions);
  const refuseClientRequest = createClientErrorHandler((err, socket) => accounting.clientError(err, socket));

  const logDestination = createLogDestination(config.logging, deps.logStream);
  const app = createHttpApp({
    server,
    logLevel: config.logging.level,
    logStream: logDestination,
    trustProxy: server.trustProxy,
    rewriteUrl: (req) => normalizer.rewriteUrl(req),
    refuseClientRequest,
  });

  const admin = buildAdminApp({ metrics, verifier: () => live.verifier, audit });
  const parts: GatewayParts = {
    admin,
    audit,
    metrics,
    get verifier() {
      return live.verifier;
    },
    get config() {
      return live.config;
    },
    reload,
  };
  app.decorate('stepgate', parts);

  // Bodies are kept as bytes up to bodyLimitBytes and forwarded as received: the limit is
  // enforced (413) before anything reaches a target, also for chunked bodies.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const pipeline: PipelineOptions = {
    normalizer,
    routing: (request) => liveFor(request).routing,
    audit,
    accounting,
    verifier: (request) => liveFor(request).verifier,
    sso,
    limiter: (request) => liveFor(request).limiter,
  };
  await registerPipeline(app, pipeline);
  await app.register(wellKnownRoutes, { signer: (request) => liveFor(request).signer });
  if (sso && config.sso) {
    const { sessionTtlSeconds, sessionIdleSeconds } = config.sso;
    await app.register(ssoRoutes, {
      sso,
      verifier: liveVerifier,
      sessionTtlSeconds,
      sessionIdleSeconds,
      executions: deps.executions ?? {
        recentExecutions: (caller, limit) => createExecutionsSource(live.targets).recentExecutions(caller, limit),
      },
    });
  }
  await app.register(forwardRoutes, { targets: (request) => liveFor(request).targets });
  // Decision mode: the same pipeline on its own listener, answering instead of forwarding.
  const decision = config.decision
    ? await buildDecisionApp(config, config.decision, {
        pipeline,
        audit: auditOptions,
        signer: (request) => liveFor(request).signer,
        targets: (request) => liveFor(request).targets,
        logStream: logDestination,
      })
    : undefined;
  if (decision) parts.decision = decision;

  app.addHook('onClose', async () => {
    await admin.close();
    await decision?.close();
    await reloading;
    await Promise.all([...retiring].map((close) => close()));
    live.verifier.close();
    await sso?.close();
    await live.limiter?.close();
    await closeTargets(live.targets);
    await dispatcher.destroy();
    await audit.close();
  });
  // Fetch every issuer's keys now; /readyz reports when they are in.
  void live.verifier.warm();
  return app;
}
