/**
 * `buildGateway(config)`: the public app and its admin app, wired in the order a request
 * travels — normalize → route → authenticate → authorize → forward → audit → metrics.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { BlockList, isIPv4, type Socket } from 'node:net';
import replyFrom from '@fastify/reply-from';
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import { type AuditLog, createAuditLog } from './audit/audit-log.ts';
import type { Config } from './config/schema.ts';
import { ConfigError } from './errors.ts';
import { restartOnlyChanges } from './config/reload-check.ts';
import { ProviderError } from './identity/provider-fetch.ts';
import { createProviderMonitor } from './identity/provider-monitor.ts';
import { createBrowserSso } from './identity/sessions/index.ts';
import { type BearerVerifier, createBearerVerifier } from './identity/verify-bearer.ts';
import { createMetrics, type GatewayMetrics } from './metrics/metrics.ts';
import { type CompiledRouting, compileRouting } from './policy/routing.ts';
import auditPlugin, { recordClientError } from './plugins/audit.ts';
import authenticate from './plugins/authenticate.ts';
import authorize from './plugins/authorize.ts';
import rateLimit from './plugins/rate-limit.ts';
import errors, { createClientErrorHandler } from './plugins/errors.ts';
import requestContext, { createPathNormalizer } from './plugins/request-context.ts';
import { createRateLimiterFor, type RateLimiter } from './ratelimit/limiter.ts';
import { buildAdminApp } from './routes/admin.ts';
import forwardRoutes from './routes/forward.ts';
import ssoRoutes from './routes/sso.ts';
import type { ExecutionsSource } from './routes/sso-page.ts';
import wellKnownRoutes from './routes/well-known.ts';
import { createAssertionSigner } from './targets/assertion.ts';
import { createExecutionsSource, createTargets, type Target } from './targets/registry.ts';

export interface GatewayDeps {
  /** Where the `stdout` audit sink writes (tests capture it). */
  readonly auditStdout?: NodeJS.WritableStream;
  /** Where the pino logger writes; default stdout. */
  readonly logStream?: NodeJS.WritableStream;
  /** The recent executions `/.stepgate/` lists for a caller (browser SSO). */
  readonly executions?: ExecutionsSource;
}

export interface GatewayParts {
  readonly admin: FastifyInstance;
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
}

const rateLimits = (config: Config) => config.routes.map((route) => [route.name, route.rateLimit]);

declare module 'fastify' {
  interface FastifyInstance {
    stepgate: GatewayParts;
  }
}

function createTrustedPeers(
  trustProxy: Config['server']['trustProxy'],
): (address: string | undefined) => boolean {
  if (!trustProxy) return () => false;
  const list = new BlockList();
  for (const entry of trustProxy) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    const mapped = address.startsWith('::ffff:') ? address.slice(7) : address;
    return list.check(mapped, isIPv4(mapped) ? 'ipv4' : 'ipv6');
  };
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
  const signer = await createAssertionSigner(publicUrl);
  const isTrustedPeer = createTrustedPeers(config.server.trustProxy);
  const normalizer = createPathNormalizer(ourAuthorities(config));
  const newTargets = (next: Config, routing: CompiledRouting) =>
    createTargets(next.targets, {
      signer,
      metrics,
      isTrustedPeer,
      stepFunctions: {
        audit: { log: audit, claims: next.audit.claims, policyVersion: () => routing.version },
        routes: next.routes,
        publicUrl: next.server.publicUrl,
        redis: next.redis,
      },
    });
  // Redis only when a route has a limit: a gateway without limits opens no connection for them.
  const newLimiter = (next: Config) =>
    next.routes.some((route) => route.rateLimit) ? createRateLimiterFor(next.redis) : undefined;

  const routing = compileRouting(config.routes);
  let live: LiveState = {
    config,
    routing,
    targets: newTargets(config, routing),
    verifier: newVerifier(config.issuers),
    limiter: newLimiter(config),
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
   * when a route's `rateLimit` appeared, changed or went (otherwise its counters are kept).
   */
  const swap = async (next: Config): Promise<void> => {
    const current = live;
    const problems = restartOnlyChanges(current.config, next);
    if (problems.length > 0) throw new ConfigError(problems);
    const routing = compileRouting(next.routes);
    const targets = newTargets(next, routing);
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
    live = { config: next, routing, targets, verifier, limiter };
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
  const auditOptions = {
    audit,
    auditConfig: (request?: FastifyRequest) => liveFor(request).config.audit,
    metrics,
    routing: (request?: FastifyRequest) => liveFor(request).routing,
  };
  const refuseClientRequest = createClientErrorHandler(randomUUID, (requestId, err, socket) =>
    recordClientError(auditOptions, requestId, err, socket),
  );

  const app = Fastify({
    logger: {
      level: config.logging.level,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      // Belt and braces: request logging is off, but nothing that carries a credential is logged.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'],
    },
    // pino's default request log writes the raw URL, which may carry a token in its query.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: server.trustProxy === false ? false : [...server.trustProxy],
    bodyLimit: server.bodyLimitBytes,
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 8192, ignoreTrailingSlash: false, caseSensitive: true },
    rewriteUrl: (req) => normalizer.rewriteUrl(req),
    serverFactory: (handler) => {
      const httpServer = createServer(
        {
          maxHeaderSize: server.maxHeaderBytes,
          headersTimeout: Math.min(server.headersTimeoutMs, server.requestTimeoutMs),
          requestTimeout: server.requestTimeoutMs,
          // Node checks the time-outs above only this often (30 s by default).
          connectionsCheckingInterval: Math.min(1000, server.requestTimeoutMs),
          keepAliveTimeout: server.keepAliveTimeoutMs,
          requireHostHeader: true,
        },
        handler as (req: IncomingMessage, res: ServerResponse) => void,
      );
      // Node hands CONNECT to a 'connect' listener, never to Fastify; without one it drops the
      // socket unanswered and unaudited. stepgate is no forward proxy: refuse it like a bad request.
      httpServer.on('connect', (_req: IncomingMessage, socket: Socket) =>
        refuseClientRequest(Object.assign(new Error('CONNECT is not supported'), { code: 'SG_CONNECT' }), socket),
      );
      return httpServer;
    },
    clientErrorHandler: refuseClientRequest,
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

  await app.register(errors);
  await app.register(replyFrom, {
    disableRequestLogging: true,
    // reply-from turns upstream certificate checks off (`tls.rejectUnauthorized = false`) unless
    // told otherwise; undici applies `connect` last, so this turns them back on.
    undici: {
      connections: 256,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { rejectUnauthorized: true },
    },
  });
  await app.register(requestContext, { normalizer, routing: (request) => liveFor(request).routing });
  await app.register(authenticate, { verifier: (request) => liveFor(request).verifier, sso });
  await app.register(authorize, { routing: (request) => liveFor(request).routing, audit });
  // Always registered: a reload may add a limit. A route without one is never counted.
  await app.register(rateLimit, { limiter: (request) => liveFor(request).limiter });
  await app.register(auditPlugin, auditOptions);
  await app.register(wellKnownRoutes, { signer });
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

  app.addHook('onClose', async () => {
    await admin.close();
    await reloading;
    await Promise.all([...retiring].map((close) => close()));
    live.verifier.close();
    await sso?.close();
    await live.limiter?.close();
    await closeTargets(live.targets);
    await audit.close();
  });
  // Fetch every issuer's keys now; /readyz reports when they are in.
  void live.verifier.warm();
  return app;
}
